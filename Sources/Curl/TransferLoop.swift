import CCurl
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Many HTTP transfers at once on one thread of its own, through libcurl's multi interface.
///
/// A transfer holds no thread while it waits: a hundred slow endpoints cost one thread, a
/// hundred easy handles and their sockets. Connections (keep-alive), DNS answers and TLS
/// sessions live in the loop and are reused across transfers to the same host, so a worker that
/// delivers job after job to one endpoint opens its connections once. A loop runs for the life
/// of the process.
public final class TransferLoop: @unchecked Sendable {
    /// The process's loop.
    public static let shared = TransferLoop()

    /// Connections kept open between transfers (libcurl's default is four per running transfer,
    /// which would close most of them between two batches).
    public static let keptConnections = 512

    private let multi: MultiHandle
    private struct Inbox {
        var starts: [Active] = []
        var cancels: [TransferTicket] = []
        /// True while the loop waits in `poll` (or is about to): only then does a new transfer
        /// need a wakeup, a write to libcurl's socket pair that a busy loop can do without.
        var asleep = false
    }
    private let inbox = Mutex(Inbox())
    // Touched by the loop thread only.
    private var running: [UnsafeMutableRawPointer: Active] = [:]
    private var byTicket: [ObjectIdentifier: Active] = [:]
    private var idleHandles: [EasyHandle] = []

    private init() {
        multi = MultiHandle()
        _ = ccurl_multi_setopt_long(multi.raw, CURLMOPT_MAXCONNECTS, Self.keptConnections)
        startThread()
    }

    /// Sends `request` and returns its response, whatever its status. Cancelling the task
    /// abandons the transfer at once (its connection is closed) and throws `CancellationError`.
    public func send(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        let ticket = TransferTicket()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                start(request, ticket: ticket) { result in
                    continuation.resume(with: result.mapError { $0 is TransferNotStarted ? CancellationError() : $0 })
                }
            }
        } onCancel: {
            ticket.cancel()
        }
    }

    /// Starts `request`; `completion` runs exactly once, on the loop's thread, so it must be
    /// quick. `ticket.cancel()` abandons the transfer: it completes with `CancellationError`,
    /// or with `TransferNotStarted` when it was cancelled before it began.
    public func start(_ request: HTTPClientRequest, ticket: TransferTicket = TransferTicket(),
                      completion: @escaping @Sendable (Result<HTTPClientResponse, any Error>) -> Void) {
        do {
            try request.validate()
            let active = Active(request: request, headers: try StringList(request.headerLines()),
                                ticket: ticket, completion: completion)
            ticket.attach(self)
            wake(inbox.withLock { box in
                box.starts.append(active)
                defer { box.asleep = false }
                return box.asleep
            })
        } catch {
            completion(.failure(error))
        }
    }

    func cancel(_ ticket: TransferTicket) {
        wake(inbox.withLock { box in
            box.cancels.append(ticket)
            defer { box.asleep = false }
            return box.asleep
        })
    }

    private func wake(_ needed: Bool) {
        if needed { multi.wakeup() }
    }

    // MARK: - The loop thread

    private func startThread() {
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let started = pthread_create(&thread, &attributes, { raw in
            Unmanaged<TransferLoop>.fromOpaque(raw!).takeRetainedValue().loop()
        }, Unmanaged.passRetained(self).toOpaque())
        pthread_attr_destroy(&attributes)
        precondition(started == 0, "cannot start the transfer loop's thread")
    }

    private func loop() -> Never {
        while true {
            let (starts, cancels) = inbox.withLock { box in
                defer { box.starts.removeAll(keepingCapacity: true); box.cancels.removeAll(keepingCapacity: true) }
                return (box.starts, box.cancels)
            }
            for active in starts { begin(active) }
            for ticket in cancels { abandon(ticket) }
            multi.perform()
            while let (easy, code) = multi.nextDone() {
                guard let active = running[easy] else { continue }
                finish(active, code: code)
            }
            // Sleep only on an empty inbox; what arrives after this point wakes the poll.
            let idle = inbox.withLock { box -> Bool in
                box.asleep = box.starts.isEmpty && box.cancels.isEmpty
                return box.asleep
            }
            multi.poll(milliseconds: idle ? 1000 : 0)
        }
    }

    private func begin(_ active: Active) {
        if active.ticket.isCancelled {
            active.completion(.failure(TransferNotStarted()))
            return
        }
        do {
            let easy = try idleHandles.popLast() ?? EasyHandle()
            try easy.reset()
            try easy.configure(for: active.request, transfer: active.transfer, headers: active.headers)
            active.easy = easy
            try multi.add(easy)
            running[easy.raw] = active
            byTicket[ObjectIdentifier(active.ticket)] = active
        } catch {
            active.easy = nil
            active.completion(.failure(error))
        }
    }

    private func finish(_ active: Active, code: CURLcode) {
        guard let easy = active.easy else { return }
        multi.remove(easy)
        running[easy.raw] = nil
        byTicket[ObjectIdentifier(active.ticket)] = nil
        let result = Result { try easy.response(after: code, transfer: active.transfer, request: active.request) }
        release(easy)
        active.completion(result)
    }

    private func abandon(_ ticket: TransferTicket) {
        guard let active = byTicket.removeValue(forKey: ObjectIdentifier(ticket)), let easy = active.easy else { return }
        multi.remove(easy)
        running[easy.raw] = nil
        release(easy)
        active.completion(.failure(CancellationError()))
    }

    private func release(_ easy: EasyHandle) {
        // The handle must not keep pointing at a list that dies with its transfer.
        try? easy.set(CURLOPT_HTTPHEADER, nil)
        if idleHandles.count < Self.keptConnections { idleHandles.append(easy) }
    }

    /// One transfer between `start` and its completion. Handed to the loop thread once, through
    /// the inbox's lock, and touched only there afterwards.
    private final class Active: @unchecked Sendable {
        let request: HTTPClientRequest
        let headers: StringList
        let transfer: HTTPTransfer
        let ticket: TransferTicket
        let completion: @Sendable (Result<HTTPClientResponse, any Error>) -> Void
        var easy: EasyHandle?

        init(request: HTTPClientRequest, headers: StringList, ticket: TransferTicket,
             completion: @escaping @Sendable (Result<HTTPClientResponse, any Error>) -> Void) {
            self.request = request
            self.headers = headers
            self.transfer = HTTPTransfer(request: request)
            self.ticket = ticket
            self.completion = completion
        }
    }
}

/// A transfer cancelled before it began: nothing was sent.
public struct TransferNotStarted: Error, Sendable {}

/// A handle on one transfer of a `TransferLoop`, to abandon it.
public final class TransferTicket: Sendable {
    private struct State {
        var cancelled = false
        var loop: TransferLoop?
    }
    private let state = Mutex(State())

    public init() {}

    /// True once `cancel()` was called.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Abandons the transfer: it completes with `CancellationError` unless it already ended.
    public func cancel() {
        let loop = state.withLock { s -> TransferLoop? in
            guard !s.cancelled else { return nil }
            s.cancelled = true
            return s.loop
        }
        loop?.cancel(self)
    }

    /// Cancelled before this, the loop still sees `isCancelled` when it begins the transfer.
    func attach(_ loop: TransferLoop) {
        state.withLock { $0.loop = loop }
    }
}
