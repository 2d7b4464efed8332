import Foundation

/// The user's endpoint (Tests/Fixtures/webhook_receiver.py): verifies each delivery with the
/// `standardwebhooks` package from PyPI, once per secret it was given, and records it.
public final class WebhookReceiver {
    public struct Delivery {
        public var path: String
        public var headers: [String: String]
        public var body: String
        /// One per secret the receiver knows, in the order given.
        public var verified: [Bool]
        /// When it arrived, in seconds since the epoch.
        public var at: Double
    }

    public let server: FixtureServer
    let log: URL
    public var base: String { "http://127.0.0.1:\(server.port)" }

    public init(secrets: [String]) throws {
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
    public func deliveries() throws -> [Delivery] {
        let text = try String(contentsOf: log, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            return Delivery(path: object["path"] as? String ?? "", headers: object["headers"] as? [String: String] ?? [:],
                            body: object["body"] as? String ?? "", verified: object["verified"] as? [Bool] ?? [],
                            at: object["at"] as? Double ?? 0)
        }
    }
}
