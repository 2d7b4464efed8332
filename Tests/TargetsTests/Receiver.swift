import Foundation
import JobQueue
import TestSupport

/// The user's endpoint (Tests/Fixtures/webhook_receiver.py): verifies each delivery with the
/// `standardwebhooks` package from PyPI, once per secret it was given, and records it.
final class Receiver {
    struct Delivery {
        var path: String
        var headers: [String: String]
        var body: String
        /// One per secret the receiver knows, in the order given.
        var verified: [Bool]
    }

    let server: FixtureServer
    let log: URL
    var base: String { "http://127.0.0.1:\(server.port)" }

    init(secrets: [String]) throws {
        log = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        server = try FixtureServer(script: "webhook_receiver.py", arguments: ["--log", log.path] + secrets.flatMap { ["--secret", $0] },
                                   python: try TestPython.path())
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(at: log)
    }

    /// Every request received so far, in order.
    func deliveries() throws -> [Delivery] {
        let text = try String(contentsOf: log, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let json = try JSONValue.parse(String(line))
            var headers: [String: String] = [:]
            for (name, value) in json["headers"]?.objectValue ?? [:] { headers[name] = value.stringValue }
            let verified: [Bool] = (json["verified"].flatMap { value -> [JSONValue]? in
                if case .array(let a) = value { return a }
                return nil
            } ?? []).map { $0 == .bool(true) }
            return Delivery(path: json["path"]?.stringValue ?? "", headers: headers, body: json["body"]?.stringValue ?? "", verified: verified)
        }
    }
}
