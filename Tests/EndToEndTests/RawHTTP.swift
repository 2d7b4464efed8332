import Foundation
import Handlers

/// HTTP/1.1 over a plain loopback socket, for requests libcurl will not send as asked: a body
/// shorter than its Content-Length, a half-closed connection, a header of any size.
enum RawHTTP {
    struct Answer {
        /// 0 when the server closed the connection without answering.
        var status: Int
        var headers: [String: String]
        var body: Data
        var seconds: Double
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends `request` as is, optionally half-closes, and reads until the server closes or
    /// `timeout` passes.
    static func exchange(port: Int, _ request: [UInt8], halfClose: Bool = false, timeout: Double = 5) throws -> Answer {
        let started = Date()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConfigurationError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw ConfigurationError("connect: \(String(cString: strerror(errno)))") }
        var sent = 0
        while sent < request.count {
            // The server may answer and close before reading everything (a header too large).
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            sent += n
        }
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date().timeIntervalSince(started) < timeout {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { received += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        var answer = parse(received)
        answer.seconds = Date().timeIntervalSince(started)
        return answer
    }

    static func parse(_ bytes: [UInt8]) -> Answer {
        guard let split = (0..<max(0, bytes.count - 3)).first(where: { bytes[$0...].starts(with: [13, 10, 13, 10]) }) else {
            return Answer(status: 0, headers: [:], body: Data(), seconds: 0)
        }
        let head = String(decoding: bytes[..<split], as: UTF8.self).components(separatedBy: "\r\n")
        let status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(bytes[(split + 4)...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return Answer(status: status, headers: headers, body: Data(body), seconds: 0)
    }

    static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](), i = 0
        while i < bytes.count {
            guard let eol = (i..<max(i, bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }) else { break }
            let sizeText = String(decoding: bytes[i..<eol], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = eol + 2
            out += bytes[start..<min(bytes.count, start + size)]
            i = start + size + 2
        }
        return out
    }
}
