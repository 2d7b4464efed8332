import Glibc

/// A listening socket. The master binds it; workers adopt the inherited descriptor and accept on it.
public final class FCGIListener {
    public let fd: Int32
    /// The address actually bound (a TCP port 0 is resolved to the kernel's choice).
    public let address: FCGIListenAddress
    /// The unix socket file's identity, so a stop removes only our own file, never a successor's.
    private let socketFileIdentity: (dev: UInt64, ino: UInt64)?
    public private(set) var isClosed = false

    /// Takes ownership of an inherited listening descriptor.
    public init(adopting fd: Int32, address: FCGIListenAddress) {
        self.fd = fd
        self.address = address
        self.socketFileIdentity = nil
    }

    private init(fd: Int32, address: FCGIListenAddress, identity: (dev: UInt64, ino: UInt64)?) {
        self.fd = fd
        self.address = address
        self.socketFileIdentity = identity
    }

    deinit { close() }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        _ = Glibc.close(fd)
    }

    /// Binds and listens. A unix socket's stale file is removed first (a live one is an error), then
    /// the file gets `mode` and `group` so a web server running as another user can connect.
    public static func bind(_ address: FCGIListenAddress, backlog: Int32 = 511, mode: mode_t? = nil, group: String? = nil) throws -> FCGIListener {
        if case .unix(let path) = address { try removeStaleSocket(at: path, address: address) }
        let family: Int32 = if case .unix = address { AF_UNIX } else { AF_INET }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FCGIError.system("socket") }
        var ok = false
        var boundPath: String?
        defer {
            if !ok {
                _ = Glibc.close(fd)
                // A half-configured socket file (say, chgrp failed) must not be left behind.
                if let boundPath { unlink(boundPath) }
            }
        }
        if case .tcp = address {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        try address.withSockaddr { sa, length in
            guard Glibc.bind(fd, sa, length) == 0 else { throw FCGIError.system("bind \(address)") }
        }
        var identity: (dev: UInt64, ino: UInt64)?
        var bound = address
        switch address {
        case .unix(let path):
            boundPath = path
            if let mode, chmod(path, mode) != 0 { throw FCGIError.system("chmod \(path)") }
            if let group {
                let gid = try groupID(named: group)
                if chown(path, uid_t.max, gid) != 0 { throw FCGIError.system("chgrp \(group) \(path)") }
            }
            var st = stat()
            if stat(path, &st) == 0 { identity = (UInt64(st.st_dev), UInt64(st.st_ino)) }
        case .tcp(let host, _):
            var sin = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            bound = .tcp(host: host, port: UInt16(bigEndian: sin.sin_port))
        }
        guard listen(fd, backlog) == 0 else { throw FCGIError.system("listen") }
        ok = true
        return FCGIListener(fd: fd, address: bound, identity: identity)
    }

    /// Lets a spawned child inherit the descriptor (clears close-on-exec), or not.
    public func setInheritable(_ inheritable: Bool) throws {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0, fcntl(fd, F_SETFD, inheritable ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC) == 0 else {
            throw FCGIError.system("fcntl(F_SETFD)")
        }
    }

    /// Makes `accept` return nil instead of blocking, so several processes can poll one listener
    /// and the losers of a race simply go back to waiting.
    public func setNonBlocking() throws {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { throw FCGIError.system("fcntl(F_SETFL)") }
    }

    /// Accepts one connection (blocking, close-on-exec), or nil when none is pending on a
    /// non-blocking listener. `sendTimeout` bounds every later write to it.
    public func accept(sendTimeout: Double? = nil) throws -> FCGISocket? {
        while true {
            // accept4 is hidden behind _GNU_SOURCE; workers spawn nothing, so a separate
            // close-on-exec step cannot leak the descriptor.
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                let socket = FCGISocket(adopting: client)
                if let sendTimeout { try socket.setSendTimeout(sendTimeout) }
                return socket
            }
            switch errno {
            case EINTR: continue
            // The peer gave up before we got to it, or another worker won the race.
            case EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO: return nil
            default: throw FCGIError.system("accept")
            }
        }
    }

    /// Removes the unix socket file if it is still the one this listener bound.
    public func removeSocketFile() {
        guard case .unix(let path) = address, let identity = socketFileIdentity else { return }
        var st = stat()
        if stat(path, &st) == 0, UInt64(st.st_dev) == identity.dev, UInt64(st.st_ino) == identity.ino {
            unlink(path)
        }
    }

    static func removeStaleSocket(at path: String, address: FCGIListenAddress) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw FCGIError(.configuration, "\(path) exists and is not a socket; refusing to replace it")
        }
        if let probe = try? FCGISocket.connect(to: address, timeout: 1) {
            probe.close()
            throw FCGIError(.configuration, "\(path) is in use by a running server")
        }
        guard unlink(path) == 0 || errno == ENOENT else { throw FCGIError.system("unlink stale socket \(path)") }
    }

    static func groupID(named name: String) throws -> gid_t {
        if let numeric = gid_t(name) { return numeric }
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let rc = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else { throw FCGIError(.configuration, "no group named \(name)") }
        return entry.gr_gid
    }
}
