import FastCGI
import Glibc

/// Listening sockets handed over by systemd (socket activation, `sd_listen_fds`): descriptors
/// from 3 on, `LISTEN_FDS` of them, meant for this process when `LISTEN_PID` is its pid, named
/// by `LISTEN_FDNAMES` (the .socket unit's `FileDescriptorName=`). The socket outlives the
/// service, so a restart or an upgrade never refuses a connection.
enum SocketActivation {
    static let firstFD: Int32 = 3

    /// The passed listeners by name (`fcgi`, `batch`; unnamed ones are `unknown`), or nil when
    /// systemd passed none to this process. Unsets the variables, so workers never see them.
    static func listeners(environment: [String: String]) throws -> [String: FCGIListener]? {
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int32.init), count > 0 else { return nil }
        let names = environment["LISTEN_FDNAMES"]?.split(separator: ":", omittingEmptySubsequences: false).map(String.init) ?? []
        for name in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] { unsetenv(name) }
        var out: [String: FCGIListener] = [:]
        for i in 0..<count {
            let fd = firstFD + i
            let name = Int(i) < names.count ? names[Int(i)] : "unknown"
            guard out[name] == nil else { throw HostError.configuration("systemd passed two sockets named \(name)") }
            out[name] = FCGIListener(adopting: fd, address: try address(of: fd))
        }
        return out
    }

    /// Where a passed socket listens, for logs and the status report.
    static func address(of fd: Int32) throws -> FCGIListenAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard ok == 0 else { throw HostError.system("getsockname on passed descriptor \(fd)") }
        switch Int32(storage.ss_family) {
        case AF_UNIX:
            let path = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { un in
                    withUnsafePointer(to: un.pointee.sun_path) { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
                }
            }
            return .unix(path: path)
        case AF_INET:
            let (host, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> (String, UInt16) in
                    var addr = sin.pointee.sin_addr
                    var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                    return (String(cString: text), UInt16(bigEndian: sin.pointee.sin_port))
                }
            }
            return .tcp(host: host, port: port)
        default:
            throw HostError.configuration("systemd passed descriptor \(fd), which is neither a unix nor an IPv4 socket")
        }
    }
}
