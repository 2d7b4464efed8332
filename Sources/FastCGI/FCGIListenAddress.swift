import Glibc

/// Where a FastCGI server listens: a unix socket path or an IPv4 address and port.
public enum FCGIListenAddress: Equatable, Sendable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    /// Parses `unix:/path.sock`, `/path.sock`, `HOST:PORT` (an IPv4 literal or `localhost`) or a
    /// bare `PORT` (on 127.0.0.1).
    public init(parsing text: String) throws {
        if text.hasPrefix("unix:") || text.hasPrefix("/") {
            let path = text.hasPrefix("unix:") ? String(text.dropFirst(5)) : text
            guard path.hasPrefix("/") || path.hasPrefix(".") || (!path.isEmpty && !path.contains(":")) else {
                throw FCGIError(.configuration, "a unix socket path is needed after unix:, got \(text)")
            }
            // sun_path holds 108 bytes including the terminating NUL.
            guard !path.isEmpty, path.utf8.count < 108 else {
                throw FCGIError(.configuration, "the unix socket path must be 1 to 107 bytes long")
            }
            self = .unix(path: path)
            return
        }
        let host: Substring, portText: Substring
        if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = "127.0.0.1"
            portText = text[...]
        }
        guard let port = UInt16(portText) else {
            throw FCGIError(.configuration, "--listen takes unix:/path.sock or 127.0.0.1:PORT, got \(text)")
        }
        let literal = host == "localhost" ? "127.0.0.1" : String(host)
        var probe = in_addr()
        guard inet_pton(AF_INET, literal, &probe) == 1 else {
            throw FCGIError(.configuration, "\(host) is not an IPv4 address (use 127.0.0.1)")
        }
        self = .tcp(host: literal, port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return "\(host):\(port)"
        }
    }

    /// Calls `body` with the address as a `sockaddr`.
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) throws -> T {
        switch self {
        case .unix(let path):
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: sun.sun_path) else {
                throw FCGIError(.configuration, "the unix socket path is too long")
            }
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            return try withUnsafePointer(to: &sun) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        case .tcp(let host, let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else {
                throw FCGIError(.configuration, "\(host) is not an IPv4 address")
            }
            return try withUnsafePointer(to: &sin) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
    }
}
