import Dispatch
import Glibc

/// A worker's serve loop: it holds several connections and answers the requests that are ready
/// on any of them together.
///
/// Web servers keep idle upstream connections (nginx `keepalive`) and open more under load. A
/// worker that served only one connection at a time would leave requests on the others waiting
/// until its own connection went idle, which under steady load is never: with more connections
/// than workers, throughput collapsed. So each worker polls the listener and every connection it
/// holds, and serves whichever is ready, round-robin. It never closes an idle kept connection to
/// make room (closing one just as the web server reuses it would lose that request, and nginx
/// does not retry a POST); it closes connections only when it stops or recycles, as below.
///
/// Requests read together are answered by one call of the responder, so they can share work:
/// concurrent enqueues share one database commit (group commit). When a request that can share
/// is ready and other held connections were answered moments ago (their clients are likely
/// sending again), the loop waits up to `groupWaitSeconds` for them, as Postgres's
/// `commit_delay` does: under load a few hundred microseconds buy a shared commit. A lone
/// client never waits, having no recently answered neighbour, and `GroupWaitPacer` stops the
/// wait where it keeps finding nobody. Shared answers go out first; requests that cannot share
/// are answered after them, one by one.
public struct FCGIServeLoop {
    /// Why `run` returned.
    public enum Outcome: Equatable, Sendable {
        case stopped
        case maxRequestsReached
    }

    public var options: FCGIConnectionOptions
    /// Requests to serve before returning; 0 means no limit.
    public var maxRequests = 0
    /// How often an idle wait wakes to check `shouldStop`.
    public var idleCheckSeconds = 1.0
    /// Once `maxRequests` is reached (or a stop asked for), how long a kept connection must sit
    /// idle before the worker closes it, unless the web server closes it first.
    public var recycleIdleSeconds = 1.0
    /// Connections one worker holds at most; beyond that it stops accepting and leaves newcomers
    /// to the other workers.
    public var maxConnections = FCGIServeLoop.defaultMaxConnections
    public static let defaultMaxConnections = 64
    /// How long a request that can share work waits for requests on recently answered
    /// connections; 0 never waits.
    public var groupWaitSeconds = 0.0
    /// A connection answered less than this long ago counts as recently answered.
    public var recentlyAnsweredSeconds: Double { groupWaitSeconds * 4 }
    /// A non-blocking descriptor (e.g. a signal self-pipe) whose readability wakes idle waits.
    public var wakeFD: Int32?
    /// Checked between requests; true ends the loop.
    public var shouldStop: () -> Bool = { false }
    /// Checked between requests; true retires the worker as `maxRequests` does: it accepts no
    /// more connections, answers what it was sent, lets kept connections go idle (or the web
    /// server close them), then returns. A reload asks this of the old workers.
    public var shouldRecycle: () -> Bool = { false }
    /// Called for each accepted connection.
    public var connectionAccepted: () -> Void = {}

    public init(options: FCGIConnectionOptions = FCGIConnectionOptions()) {
        self.options = options
    }

    /// One held connection and what the loop knows of it.
    final class Held {
        let connection: FCGIConnection
        /// Accepted, or last answered: the start of its current idle time.
        var idleSince = FCGIServeLoop.nowNs()
        /// It has sent something: a connection that has not is about to send its request.
        var hasSpoken = false
        /// When its last request was answered (0: never), for the group wait.
        var answeredAt: UInt64 = 0

        init(_ connection: FCGIConnection) {
            self.connection = connection
        }

        var isBusy: Bool { connection.isInFlight || connection.hasBufferedInput }
    }

    /// Accepts and serves connections until `shouldStop` or `maxRequests`.
    public func run(listener: FCGIListener, responder: any FCGIResponder) throws -> Outcome {
        try listener.setNonBlocking()
        var served = 0
        var held: [Held] = []
        var turn = 0
        let pacer = GroupWaitPacer()
        defer { for h in held { h.connection.close() } }
        while true {
            let stopping = shouldStop()
            let recycling = (maxRequests > 0 && served >= maxRequests) || shouldRecycle()
            retire(&held, stopping: stopping, recycling: recycling)
            if (stopping || recycling) && held.isEmpty { return recycling ? .maxRequestsReached : .stopped }

            // A record already buffered (or a request half read) is read without waiting.
            var ready = held.filter(\.isBusy)
            var newcomer = false
            if ready.isEmpty {
                var fds = held.map { pollfd(fd: $0.connection.socket.fd, events: Int16(POLLIN), revents: 0) }
                let accepting = !stopping && !recycling && held.count < maxConnections
                if accepting { fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)) }
                if let wakeFD { fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)) }
                try poll(&fds, timeout: nextDeadline(held, stopping: stopping, recycling: recycling))
                drainWake(fds)

                // Round-robin: a chatty connection cannot keep the others waiting.
                let count = held.count
                for k in 0..<count {
                    let i = (turn + k) % count
                    if fds[i].revents != 0 { ready.append(held[i]) }
                }
                turn &+= 1
                newcomer = accepting && fds[count].revents != 0
            }
            served += serve(ready, of: held, responder: responder, pacer: pacer, stopping: stopping)
            // Accepted only after serving: a worker about to be busy must not take a newcomer
            // that an idle worker could answer now. If another worker took it meanwhile, accept
            // finds nothing.
            if newcomer, let socket = try listener.accept(sendTimeout: options.writeTimeout) {
                connectionAccepted()
                let connection = FCGIConnection(socket: socket, responder: responder, options: options)
                connection.defersAnswers = true
                held.append(Held(connection))
            }
        }
    }

    /// Reads the request on each ready connection; those that can share work are answered by
    /// one call of the responder (after the group wait), and sent, before the others are
    /// answered one by one, so an enqueue never waits behind an unrelated slow request.
    /// Returns the number of requests that ended.
    func serve(_ ready: [Held], of held: [Held], responder: any FCGIResponder, pacer: GroupWaitPacer, stopping: Bool) -> Int {
        var ended = 0
        var waiting: [Held] = []
        for h in ready {
            ended += read(h)
            if h.connection.awaitingAnswer != nil { waiting.append(h) }
        }
        guard !waiting.isEmpty else { return ended }
        var sharing: [Held] = [], alone: [Held] = []
        for h in waiting {
            if responder.canShare(h.connection.awaitingAnswer!) { sharing.append(h) } else { alone.append(h) }
        }
        if groupWaitSeconds > 0, !stopping, !sharing.isEmpty, pacer.shouldWait() {
            var arrived: [Held] = []
            var waited = false
            ended += gather(into: &arrived, waited: &waited, besides: ready, of: held)
            let before = sharing.count
            for h in arrived {
                if responder.canShare(h.connection.awaitingAnswer!) { sharing.append(h) } else { alone.append(h) }
            }
            if waited { pacer.record(foundCompany: sharing.count > before) }
        }
        if !sharing.isEmpty {
            ended += answer(sharing, with: responder.respond(toAll: sharing.map { $0.connection.awaitingAnswer! }))
        }
        for h in alone {
            ended += answer([h], with: [responder.respond(to: h.connection.awaitingAnswer!)])
        }
        return ended
    }

    func answer(_ waiting: [Held], with responses: [FCGIResponse]) -> Int {
        var ended = 0
        let now = Self.nowNs()
        for (h, response) in zip(waiting, responses) {
            if h.connection.answer(response) {
                ended += 1
                h.answeredAt = now
            }
            h.idleSince = now
        }
        return ended
    }

    /// Waits up to `groupWaitSeconds` for requests on the recently answered connections that
    /// are not ready yet. What has arrived is read without waiting for more: a request still
    /// incomplete at the deadline stays in flight for the next turn of the loop, so the wait
    /// stays bounded. Complete requests go to `arrived`; `waited` tells whether there was any
    /// neighbour to wait for. Returns the number of requests that ended (refused or aborted)
    /// meanwhile.
    func gather(into arrived: inout [Held], waited: inout Bool, besides ready: [Held], of held: [Held]) -> Int {
        let start = Self.nowNs()
        let recent = UInt64(recentlyAnsweredSeconds * 1e9)
        var expected = held.filter { h in
            h.connection.isOpen && !h.isBusy && start &- h.answeredAt < recent && !ready.contains { $0 === h }
        }
        waited = !expected.isEmpty
        let deadline = start + UInt64(groupWaitSeconds * 1e9)
        var ended = 0
        while !expected.isEmpty {
            let now = Self.nowNs()
            guard now < deadline else { break }
            let readable = FCGIReadiness.readable(expected.map(\.connection.socket.fd), microseconds: Int((deadline - now) / 1000) + 1)
            guard !readable.isEmpty else { break }
            var done: [Int] = []
            for i in readable {
                let h = expected[i]
                ended += readArrived(h)
                if h.connection.awaitingAnswer != nil { arrived.append(h) }
                // Complete, refused or closed: nothing more to wait for on it (a complete one must
                // never be read, or gathered, twice). A request, or its first record, half arrived
                // stays expected.
                let complete = h.connection.awaitingAnswer != nil
                if complete || !h.connection.isOpen || (!h.connection.isInFlight && !h.connection.hasBufferedInput) { done.append(i) }
            }
            expected = expected.indices.filter { !done.contains($0) }.map { expected[$0] }
        }
        return ended
    }

    /// Handles the records that have arrived on a connection, without waiting for more.
    func readArrived(_ held: Held) -> Int {
        held.hasSpoken = true
        var ended = 0
        while held.connection.isOpen && held.connection.awaitingAnswer == nil {
            do {
                guard let requestEnded = try held.connection.stepIfArrived() else { break }
                if requestEnded { ended += 1 }
                if held.connection.awaitingAnswer != nil { break }
            } catch {
                held.connection.report(error)
                held.connection.close()
            }
        }
        held.idleSince = Self.nowNs()
        return ended
    }

    /// Reads records until the request in flight is complete (or refused, aborted, or the
    /// connection closed); the number of requests that ended.
    func read(_ held: Held) -> Int {
        held.hasSpoken = true
        var ended = 0
        repeat {
            do {
                if try held.connection.step() { ended += 1 }
            } catch {
                held.connection.report(error)
                held.connection.close()
            }
        } while held.connection.isOpen && held.connection.isInFlight
        held.idleSince = Self.nowNs()
        return ended
    }

    /// Drops closed connections and closes those that may go: a silent one that never sent its
    /// request within the read timeout; and, once stopping or recycling, idle ones — at once
    /// when stopping (a newcomer still gets `idleCheckSeconds` to speak), after
    /// `recycleIdleSeconds` of idleness when recycling.
    func retire(_ held: inout [Held], stopping: Bool, recycling: Bool) {
        let now = Self.nowNs()
        held.removeAll { h in
            guard h.connection.isOpen else { return true }
            if h.isBusy { return false }
            let idle = Double(now &- h.idleSince) / 1e9
            let goes: Bool
            if stopping {
                goes = h.hasSpoken || idle > idleCheckSeconds
            } else if !h.hasSpoken && idle > options.readTimeout {
                goes = true
            } else {
                goes = recycling && idle >= recycleIdleSeconds
            }
            if goes { h.connection.close() }
            return goes
        }
    }

    /// How long the next poll may sleep: until the earliest connection could be retired, and
    /// never longer than `idleCheckSeconds`, so a stop is noticed.
    func nextDeadline(_ held: [Held], stopping: Bool, recycling: Bool) -> Double {
        let now = Self.nowNs()
        var wait = idleCheckSeconds
        for h in held {
            let idle = Double(now &- h.idleSince) / 1e9
            if stopping && !h.hasSpoken { wait = min(wait, idleCheckSeconds - idle) }
            if recycling { wait = min(wait, recycleIdleSeconds - idle) }
            if !h.hasSpoken { wait = min(wait, options.readTimeout - idle) }
        }
        return max(wait, 0.001)
    }

    static func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    static func seconds(since ns: UInt64) -> Double { Double(nowNs() &- ns) / 1e9 }

    func poll(_ fds: inout [pollfd], timeout: Double) throws {
        let ms = Int32(max(1, min(timeout, idleCheckSeconds) * 1000).rounded(.up))
        while Glibc.poll(&fds, nfds_t(fds.count), ms) < 0 {
            guard errno == EINTR else { throw FCGIError.system("poll") }
            if shouldStop() { return }
        }
    }

    func drainWake(_ fds: [pollfd]) {
        guard let wakeFD, let last = fds.last, last.fd == wakeFD, last.revents != 0 else { return }
        var scratch = [UInt8](repeating: 0, count: 64)
        _ = Glibc.read(wakeFD, &scratch, scratch.count)
    }
}

/// Keeps the group wait for when it pays. It tracks how often a wait found company (a moving
/// average over about the last eight waits); while that share is under a quarter, it waits at
/// only one chance in sixteen, to notice when company returns. Under concurrent load most waits
/// find company and nothing changes; a client that merely alternates between a worker's
/// connections, never with company, stops paying the wait after a dozen requests.
final class GroupWaitPacer {
    private(set) var successRate = 1.0
    private var chances = 0

    func shouldWait() -> Bool {
        if successRate >= 0.25 { return true }
        chances &+= 1
        return chances % 16 == 0
    }

    func record(foundCompany: Bool) {
        successRate += ((foundCompany ? 1 : 0) - successRate) / 8
    }
}
