import Glibc
import Synchronization

/// Signals turned into bytes on a pipe (the self-pipe trick), so a process that waits in poll()
/// wakes for them, plus a set of the signals seen, safe to read from ordinary code.
enum SignalPipe {
    private static let writeEnd = Atomic<Int32>(-1)
    private static let seen = Atomic<UInt64>(0)

    /// Installs handlers for `signals` (without SA_RESTART, so blocking calls return EINTR) and
    /// ignores SIGPIPE. Returns the non-blocking read end to poll.
    static func install(_ signals: [Int32]) throws -> Int32 {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw HostError.system("pipe") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        writeEnd.store(fds[1], ordering: .sequentiallyConsistent)
        _ = seen.load(ordering: .relaxed) // initialise the global before a handler can touch it
        signal(SIGPIPE, SIG_IGN)
        // A parent may have started us with these blocked (a libdispatch thread's mask survives
        // posix_spawn), and a blocked SIGTERM would never stop the pool.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in signals { sigaddset(&unblock, sig) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for sig in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = signalHandler
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            guard sigaction(sig, &action, nil) == 0 else { throw HostError.system("sigaction") }
        }
        return fds[0]
    }

    /// The signals seen since the last call, cleared.
    static func take() -> Set<Int32> {
        let bits = seen.exchange(0, ordering: .acquiringAndReleasing)
        return Set((1..<64).filter { bits & (1 << UInt64($0)) != 0 }.map { Int32($0) })
    }

    /// True once any of `signals` has arrived (not cleared).
    static func hasSeen(_ signals: [Int32]) -> Bool {
        let bits = seen.load(ordering: .acquiring)
        return signals.contains { bits & (1 << UInt64($0)) != 0 }
    }

    fileprivate static func note(_ sig: Int32) {
        seen.bitwiseOr(1 << UInt64(sig & 63), ordering: .acquiringAndReleasing)
        var byte = UInt8(truncatingIfNeeded: sig)
        _ = write(writeEnd.load(ordering: .relaxed), &byte, 1)
    }
}

/// Async-signal-safe: an atomic or and a write(2), errno preserved.
private func signalHandler(_ sig: Int32) {
    let saved = errno
    SignalPipe.note(sig)
    errno = saved
}
