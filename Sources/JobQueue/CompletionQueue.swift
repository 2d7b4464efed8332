import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where executors drop attempts' ends for the processor: a locked list, and a pipe that is
/// readable while the list is not empty, so the processor can wait on it together with its
/// database socket (`StoreWait`) and never spin.
final class CompletionQueue: Sendable {
    private let list = Mutex<[Completion]>([])
    /// The pipe's read end, which the processor polls; a byte is written on the list's
    /// empty-to-not-empty edge only, so a burst costs one write.
    let fd: Int32
    private let writeFD: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else {
            throw JobFailure("cannot create the completion pipe: \(String(cString: strerror(errno)))", retryable: true)
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        fd = ends[0]
        writeFD = ends[1]
    }

    deinit {
        close(fd)
        close(writeFD)
    }

    func post(_ completion: Completion) {
        let wasEmpty = list.withLock { list -> Bool in
            list.append(completion)
            return list.count == 1
        }
        if wasEmpty {
            var byte: UInt8 = 1
            _ = write(writeFD, &byte, 1)
        }
    }

    /// Everything posted so far, oldest first; empties the pipe.
    func take() -> [Completion] {
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &scratch, { read(fd, $0.baseAddress, $0.count) }) > 0 {}
        return list.withLock { list in
            defer { list.removeAll(keepingCapacity: true) }
            return list
        }
    }

    /// Waits until something is posted or `deadlineNs` (monotonic) passes.
    func wait(untilNs deadlineNs: UInt64) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard deadlineNs > now else { return }
        if !list.withLock({ $0.isEmpty }) { return }
        let ms = Int32(min((deadlineNs - now + 999_999) / 1_000_000, UInt64(Int32.max)))
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, ms)
    }
}
