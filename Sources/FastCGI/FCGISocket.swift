import Glibc

/// A connected stream socket (or any readable/writable descriptor) that closes itself in `deinit`.
/// Reads block with a timeout, so a stalled peer cannot pin a worker forever; writes never raise
/// SIGPIPE.
public final class FCGISocket {
    public let fd: Int32
    public private(set) var isClosed = false

    /// Takes ownership of `fd`.
    public init(adopting fd: Int32) {
        self.fd = fd
    }

    deinit { close() }

    /// Closes the descriptor once.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        _ = Glibc.close(fd)
    }

    /// Two connected unix stream sockets' descriptors (close-on-exec), for tests and in-process pipes.
    public static func pairDescriptors() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw FCGIError.system("socketpair")
        }
        return (fds[0], fds[1])
    }

    /// Connects to a listening address (blocking, bounded by `timeout` for later sends).
    public static func connect(to address: FCGIListenAddress, timeout: Double = 30) throws -> FCGISocket {
        let socket = try address.withSockaddr { sa, length -> FCGISocket in
            let fd = Glibc.socket(Int32(sa.pointee.sa_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw FCGIError.system("socket") }
            let s = FCGISocket(adopting: fd)
            while Glibc.connect(fd, sa, length) != 0 {
                if errno == EINTR { continue }
                throw FCGIError.system("connect to \(address)")
            }
            return s
        }
        try socket.setSendTimeout(timeout)
        return socket
    }

    /// Bounds every blocking send; a peer that stops reading then fails the write with `timeout`.
    public func setSendTimeout(_ seconds: Double) throws {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
        guard setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw FCGIError.system("setsockopt(SO_SNDTIMEO)")
        }
    }

    /// Waits until the descriptor is readable (or at EOF/error). Nil waits forever.
    public func waitReadable(timeout: Double?) throws -> Bool {
        try Self.waitReadable(fd, timeout: timeout)
    }

    /// Reads up to `maxCount` bytes and appends them to `buffer`, waiting at most `timeout` seconds
    /// for the first byte. Returns the count; 0 means the peer closed.
    public func read(appendingTo buffer: inout [UInt8], maxCount: Int = 65_536, timeout: Double?) throws -> Int {
        try Self.read(fd, appendingTo: &buffer, maxCount: maxCount, timeout: timeout)
    }

    static func waitReadable(_ fd: Int32, timeout: Double?) throws -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms: Int32 = timeout.map { Int32(min(max($0 * 1000, 0), Double(Int32.max))) } ?? -1
        while true {
            let n = poll(&pfd, 1, ms)
            if n >= 0 { return n > 0 }
            if errno != EINTR { throw FCGIError.system("poll") }
        }
    }

    static func read(_ fd: Int32, appendingTo buffer: inout [UInt8], maxCount: Int, timeout: Double?) throws -> Int {
        // A scratch buffer and one copy: growing the array by 64 KiB of zeros and trimming it
        // back costs milliseconds per read in a debug build.
        return try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maxCount) { scratch in
            // Try first, wait only if nothing is there: the serve loop already waited for the
            // request, so a poll before every read would be a wasted system call.
            var n = 0
            repeat {
                n = recv(fd, scratch.baseAddress!, maxCount, Int32(MSG_DONTWAIT))
            } while n < 0 && errno == EINTR
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTSOCK) {
                guard try waitReadable(fd, timeout: timeout) else {
                    throw FCGIError(.timeout, "the peer sent nothing for \(timeout ?? 0) seconds")
                }
                repeat {
                    n = Glibc.read(fd, scratch.baseAddress!, maxCount)
                } while n < 0 && errno == EINTR
            }
            guard n >= 0 else {
                if errno == ECONNRESET { return 0 }
                throw FCGIError.system("read")
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<n]))
            return n
        }
    }

    /// Writes all of `bytes`, without SIGPIPE on a socket.
    public func write(_ bytes: [UInt8]) throws {
        var sent = 0
        var useSend = true
        try bytes.withUnsafeBytes { raw in
            while sent < raw.count {
                var n = useSend ? send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL)) : -1
                if n < 0 && useSend && errno == ENOTSOCK {
                    // A pipe (CGI's stdout): SIGPIPE is ignored by the hosts, so plain write is safe.
                    useSend = false
                }
                if !useSend { n = Glibc.write(fd, raw.baseAddress! + sent, raw.count - sent) }
                if n < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK { throw FCGIError(.timeout, "the peer stopped reading") }
                    if errno == EPIPE || errno == ECONNRESET { throw FCGIError(.peerClosed, "the peer closed the connection") }
                    throw FCGIError.system("send")
                }
                sent += n
            }
        }
    }
}
