import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Tests/Fixtures/smtp_scripted.py on 127.0.0.1, run with Debian's python3 (which has
/// aiosmtpd), with its own maildir. Stopped by `stop()` or at the latest in deinit.
final class ScriptedSMTPServer {
    let maildir: URL
    private let server: FixtureServer
    var port: Int { server.port }

    var url: String { "smtp://127.0.0.1:\(port)" }

    init() throws {
        maildir = FileManager.default.temporaryDirectory.appendingPathComponent("mail-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: maildir, withIntermediateDirectories: true)
        server = try FixtureServer(script: "smtp_scripted.py", arguments: ["--maildir", maildir.path])
    }

    deinit { stop() }

    func stop() {
        server.stop()
        try? FileManager.default.removeItem(at: maildir)
    }

    /// The stored messages' numbers, in order.
    func storedMessages() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: maildir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.contains("summary") }.compactMap { Int($0.dropLast(5)) }.sorted()
    }

    /// Message `number` as received (dot-unstuffed).
    func raw(_ number: Int) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: maildir.appendingPathComponent("\(number).eml")))
    }

    /// Message `number`'s envelope: mail_from, rcpt_tos, helo.
    func envelope(_ number: Int) throws -> [String: Any] {
        try json("\(number).json")
    }

    /// Message `number` as Python's email package parsed it.
    func summary(_ number: Int) throws -> MessageSummary {
        MessageSummary(try json("\(number).summary.json"))
    }

    /// Every RCPT TO address the server saw, in order.
    func rcptLog() -> [String] {
        let text = (try? String(contentsOf: maildir.appendingPathComponent("rcpt.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    private func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: maildir.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// The parsed view smtp_scripted.py writes for each message.
struct MessageSummary {
    let raw: [String: Any]
    init(_ raw: [String: Any]) { self.raw = raw }

    var headers: [(String, String)] {
        (raw["headers"] as? [[String]] ?? []).map { ($0[0], $0[1]) }
    }
    var headerNames: [String] { headers.map { $0.0.lowercased() } }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var headerDefects: [String] { raw["header_defects"] as? [String] ?? [] }
    var subject: String? { raw["subject"] as? String }
    func addresses(_ key: String) -> [(name: String, address: String)] {
        (raw[key] as? [[String: String]] ?? []).map { ($0["name"] ?? "", $0["address"] ?? "") }
    }
    var tree: Part { Part(raw["tree"] as? [String: Any] ?? [:]) }

    /// One MIME entity of the tree.
    struct Part {
        let raw: [String: Any]
        init(_ raw: [String: Any]) { self.raw = raw }
        var contentType: String? { raw["content_type"] as? String }
        var params: [String: String] { raw["params"] as? [String: String] ?? [:] }
        var disposition: String? { raw["disposition"] as? String }
        var filename: String? { raw["filename"] as? String }
        var transferEncoding: String? { raw["cte"] as? String }
        var defects: [String] { raw["defects"] as? [String] ?? [] }
        var parts: [Part] { (raw["parts"] as? [[String: Any]] ?? []).map(Part.init) }
        /// A text part's decoded text with CRLF turned into LF.
        var text: String? { (raw["text"] as? String)?.replacingOccurrences(of: "\r\n", with: "\n") }
        var bytes: [UInt8] { [UInt8](Data(base64Encoded: raw["payload_base64"] as? String ?? "") ?? Data()) }
        /// Defects of this part and every part below it.
        var allDefects: [String] { defects + parts.flatMap(\.allDefects) }
    }
}
