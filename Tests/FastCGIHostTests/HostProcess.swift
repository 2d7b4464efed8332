import FastCGI
import Foundation
import Glibc
import Testing

/// A real `fcgi-host serve` master (with its workers) on a unix socket in a temp directory.
/// `stop()` (also run from `deinit`) ends it and everything it started.
final class HostProcess {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The binary sits beside the test bundle in the build folder.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fcgi-host")
    }

    static let processorKey = "fcgi-test-processor-\(UUID().uuidString)"
    static let adminKey = "fcgi-test-admin-\(UUID().uuidString)"

    let dir: String
    let socketPath: String
    let process = Process()
    private(set) var address: FCGIListenAddress
    var pid: pid_t { process.processIdentifier }

    /// On a unix socket in a temp directory, or with `tcp` on 127.0.0.1 and a port the kernel picks.
    init(workers: Int = 2, tcp: Bool = false, arguments extra: [String] = [], environment overrides: [String: String?] = [:]) throws {
        var template = Array("/tmp/fcgi-host-test-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { throw FCGIError.system("mkdtemp") }
        dir = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        socketPath = dir + "/fcgi.sock"
        address = tcp ? .tcp(host: "127.0.0.1", port: 0) : .unix(path: socketPath)
        process.executableURL = Self.binary
        process.arguments = ["serve", "--listen", tcp ? "127.0.0.1:0" : "unix:\(socketPath)", "--socket-mode", "0666", "--workers", "\(workers)",
                             "--manifest", Self.repoRoot.appendingPathComponent("functions.json").path, "--grace", "15", "--stop-when-orphaned"] + extra
        var env = ProcessInfo.processInfo.environment
        env["CONVEYOR_PROCESSOR_KEY"] = Self.processorKey
        env["CONVEYOR_ADMIN_KEY"] = Self.adminKey
        for (k, v) in overrides { env[k] = v }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: dir + "/stderr.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: dir + "/stderr.log")
        try process.run()
        if tcp {
            // The master logs the port it bound: "listen=127.0.0.1:PORT".
            try waitUntil("the master logs its port", seconds: 20) {
                guard let range = log.range(of: "listen=127.0.0.1:") else { return false }
                let port = log[range.upperBound...].prefix { $0.isNumber }
                guard let p = UInt16(port) else { return false }
                address = .tcp(host: "127.0.0.1", port: p)
                return true
            }
        }
        try waitUntil("the socket accepts connections", seconds: 20) {
            (try? FCGISocket.connect(to: address, timeout: 2)) != nil
        }
    }

    deinit { stop() }

    /// What the host has logged so far.
    var log: String { (try? String(contentsOfFile: dir + "/stderr.log", encoding: .utf8)) ?? "" }

    /// SIGTERM, a generous wait, then SIGKILL; workers of a killed master exit on their own once
    /// they see it gone.
    func stop() {
        if process.isRunning {
            kill(pid, SIGTERM)
            if !waitForExit(seconds: 25) { kill(pid, SIGKILL) }
            _ = waitForExit(seconds: 5)
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        return !process.isRunning
    }

    func client() throws -> FCGIClient { try FCGIClient(connectingTo: address, timeout: 30) }

    /// The params a web server would send.
    static func params(_ method: String, _ path: String, query: String = "", key: String? = nil, bodyLength: Int? = nil) -> [(String, String)] {
        var p = [("GATEWAY_INTERFACE", "CGI/1.1"), ("REQUEST_METHOD", method), ("DOCUMENT_URI", path), ("QUERY_STRING", query),
                 ("REQUEST_URI", query.isEmpty ? path : "\(path)?\(query)"), ("SERVER_PROTOCOL", "HTTP/1.1")]
        if let key { p.append(("HTTP_X_API_KEY", key)) }
        if let bodyLength {
            p.append(("CONTENT_TYPE", "application/json"))
            p.append(("CONTENT_LENGTH", "\(bodyLength)"))
        }
        return p
    }

    /// One request on a new connection; the parsed CGI response.
    func request(_ method: String, _ path: String, query: String = "", key: String? = nil, body: String? = nil) throws -> FCGIResponse {
        let bytes = body.map { Array($0.utf8) } ?? []
        let r = try client().request(params: Self.params(method, path, query: query, key: key, bodyLength: body == nil ? nil : bytes.count),
                                     stdin: bytes, keepConnection: false)
        return try #require(r.http, "not a CGI response: \(String(decoding: r.stdout, as: UTF8.self))")
    }

    /// `GET /v1/pool/status` with the admin key, as JSON.
    func poolStatus() throws -> [String: Any] {
        let r = try request("GET", "/v1/pool/status", key: Self.adminKey)
        #expect(r.status == 200)
        return try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
    }

    static func workerPids(_ status: [String: Any]) -> [Int] {
        ((status["workers"] as? [[String: Any]]) ?? []).compactMap { $0["pid"] as? Int }.filter { $0 > 0 }
    }
}

/// Polls `condition` until it holds, or records an issue and throws after `seconds`.
func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(50_000)
    }
    throw FCGIError(.timeout, "gave up waiting until \(what)")
}
