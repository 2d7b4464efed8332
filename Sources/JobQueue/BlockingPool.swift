import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Threads of our own for work that blocks (libpq, a blocking libcurl call, a sleep), so it
/// never holds one of the concurrency pool's few threads. Threads start on demand up to
/// `maxThreads` and then stay, idle, for the life of the process; work beyond waits its turn.
public final class BlockingPool: Sendable {
    /// The process's pool for job code.
    public static let shared = BlockingPool(maxThreads: 64)

    public let maxThreads: Int
    private struct State {
        var work: [@Sendable () -> Void] = []
        var head = 0
        var threads = 0
        var idle = 0
    }
    private let state = Mutex(State())
    private let signal = Semaphore()

    public init(maxThreads: Int) {
        self.maxThreads = max(1, maxThreads)
    }

    /// Runs `body` on a pool thread.
    public func submit(_ body: @escaping @Sendable () -> Void) {
        let spawn = state.withLock { s -> Bool in
            s.work.append(body)
            if s.idle > 0 { s.idle -= 1; return false }
            guard s.threads < maxThreads else { return false }
            s.threads += 1
            return true
        }
        if spawn { startThread() } else { signal.post() }
    }

    /// Runs `body` on a pool thread and returns what it returns, without holding the caller's
    /// thread meanwhile. A task cancelled before a thread took the work gets `AttemptNotStarted`.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit {
                if Task.isCancelled {
                    continuation.resume(throwing: AttemptNotStarted())
                    return
                }
                continuation.resume(with: Result { try body() })
            }
        }
    }

    private func next() -> (@Sendable () -> Void)? {
        state.withLock { s in
            guard s.head < s.work.count else { return nil }
            let body = s.work[s.head]
            s.head += 1
            if s.head > 1024 && s.head * 2 > s.work.count {
                s.work.removeFirst(s.head)
                s.head = 0
            }
            return body
        }
    }

    private func startThread() {
        let pool = Unmanaged.passRetained(self)
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let started = pthread_create(&thread, &attributes, { raw in
            let pool = Unmanaged<BlockingPool>.fromOpaque(raw!).takeRetainedValue()
            pool.loop()
            return nil
        }, pool.toOpaque())
        pthread_attr_destroy(&attributes)
        if started != 0 {
            pool.release()
            state.withLock { $0.threads -= 1 }
        }
    }

    private func loop() {
        while true {
            while let body = next() { body() }
            let waitForMore = state.withLock { s -> Bool in
                // Work may have arrived between `next` and here; only sleep on an empty queue.
                guard s.head >= s.work.count else { return false }
                s.idle += 1
                return true
            }
            if waitForMore { signal.wait() }
        }
    }
}

/// A counting semaphore on a POSIX one.
final class Semaphore: @unchecked Sendable {
    private let raw = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(raw, 0, 0) }
    deinit {
        sem_destroy(raw)
        raw.deallocate()
    }

    func post() { sem_post(raw) }
    func wait() { while sem_wait(raw) != 0 && errno == EINTR {} }
}
