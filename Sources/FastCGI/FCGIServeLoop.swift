import Dispatch
import Glibc

/// A worker's accept loop: one connection at a time, synchronously.
///
/// Web servers cache idle upstream connections (nginx `keepalive`, one cache per nginx worker).
/// A worker parked on such a connection would starve new ones, so between requests it polls both
/// the connection and the listener, and when a new connection is waiting it takes it and drops
/// the idle one. Two rules keep that from dropping a request on the floor:
/// - a connection that has not sent anything yet is never displaced (its request is on the way);
/// - a connection is displaced only once it has been idle for `displaceAfterIdleSeconds`, so a
///   web server that reuses it right after a response does not race the close.
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
    /// How long a kept connection must have been idle before a newcomer may displace it.
    public var displaceAfterIdleSeconds = 0.05
    /// Once `maxRequests` is reached, how long the kept connection must sit idle before the
    /// worker closes it and exits (unless the web server closes it first).
    public var recycleIdleSeconds = 1.0
    /// A non-blocking descriptor (e.g. a signal self-pipe) whose readability wakes idle waits.
    public var wakeFD: Int32?
    /// Checked between requests; true ends the loop.
    public var shouldStop: () -> Bool = { false }
    /// Called for each accepted connection.
    public var connectionAccepted: () -> Void = {}

    public init(options: FCGIConnectionOptions = FCGIConnectionOptions()) {
        self.options = options
    }

    /// Accepts and serves connections until `shouldStop` or `maxRequests`.
    public func run(listener: FCGIListener, responder: any FCGIResponder) throws -> Outcome {
        try listener.setNonBlocking()
        var served = 0
        var pending: FCGISocket?
        // A connection already accepted is served even when a stop comes: nobody else will.
        while pending != nil || !shouldStop() {
            guard let socket = try pending ?? waitAndAccept(listener) else { continue }
            pending = nil
            connectionAccepted()
            let connection = FCGIConnection(socket: socket, responder: responder, options: options)
            let acceptedAt = Self.nowNs()
            var hasSpoken = false
            var idleSince = acceptedAt
            while connection.isOpen {
                if !connection.isInFlight && !connection.hasBufferedInput {
                    if maxRequests > 0 && served >= maxRequests {
                        // Recycling must not race the web server: closing a kept connection just
                        // as nginx reuses it loses that request (nginx does not retry a POST). So
                        // keep serving it until nginx closes it (its keepalive_requests or
                        // keepalive_timeout) or leaves it idle for recycleIdleSeconds.
                        let idleFor = Self.seconds(since: idleSince)
                        if idleFor >= recycleIdleSeconds || shouldStop() { break }
                        let ready = try waitIdle(connection.socket.fd, listener: nil, timeout: recycleIdleSeconds - idleFor)
                        if !ready.client { continue }
                    } else {
                        // A silent newcomer still gets a moment to send the request it connected for.
                        if shouldStop() && (hasSpoken || Self.seconds(since: acceptedAt) > idleCheckSeconds) { break }
                        if !hasSpoken && Self.seconds(since: acceptedAt) > options.readTimeout { break }
                        let idleFor = Self.seconds(since: idleSince)
                        let mayDisplace = hasSpoken && idleFor >= displaceAfterIdleSeconds
                        // Polling the listener while the connection may not be displaced would spin.
                        let ready = try waitIdle(connection.socket.fd, listener: mayDisplace ? listener.fd : nil,
                                                 timeout: hasSpoken && !mayDisplace ? displaceAfterIdleSeconds - idleFor : idleCheckSeconds)
                        guard ready.client else {
                            // If another worker won the race for the newcomer, this one keeps its connection.
                            if ready.listener, let next = try listener.accept(sendTimeout: options.writeTimeout) {
                                pending = next
                                break
                            }
                            continue
                        }
                    }
                }
                hasSpoken = true
                do {
                    if try connection.step() { served += 1 }
                } catch {
                    connection.report(error)
                    connection.close()
                }
                idleSince = Self.nowNs()
            }
            connection.close()
            if maxRequests > 0 && served >= maxRequests { return .maxRequestsReached }
        }
        return .stopped
    }

    static func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    static func seconds(since ns: UInt64) -> Double { Double(nowNs() &- ns) / 1e9 }

    func waitAndAccept(_ listener: FCGIListener) throws -> FCGISocket? {
        var fds = [pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)]
        if let wakeFD { fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)) }
        try poll(&fds, timeout: idleCheckSeconds)
        drainWake(fds)
        guard fds[0].revents != 0 else { return nil }
        return try listener.accept(sendTimeout: options.writeTimeout)
    }

    func waitIdle(_ client: Int32, listener: Int32?, timeout: Double) throws -> (client: Bool, listener: Bool) {
        var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0)]
        if let listener { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
        if let wakeFD { fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)) }
        try poll(&fds, timeout: timeout)
        drainWake(fds)
        return (fds[0].revents != 0, listener != nil && fds[1].revents != 0)
    }

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
