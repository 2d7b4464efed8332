import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Tests/Fixtures/smtp_scripted.py on 127.0.0.1, run with Debian's python3 (which has
/// aiosmtpd), with its own maildir. Stopped by `stop()` or at the latest in deinit.
final class ScriptedSMTPServer {
    let directory: URL
    let maildir: URL
    let port: Int
    private let process: Process

    var url: String { "smtp://127.0.0.1:\(port)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mail-tests-\(UUID().uuidString)")
        maildir = directory.appendingPathComponent("mail")
        try FileManager.default.createDirectory(at: maildir, withIntermediateDirectories: true)
        let portFile = directory.appendingPathComponent("port")
        let log = directory.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/smtp_scripted.py")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-u", script.path, "--port-file", portFile.path, "--maildir", maildir.path]
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()

        let deadline = Date().addingTimeInterval(20)
        var found: Int?
        while found == nil, Date() < deadline, process.isRunning {
            found = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if found == nil { Thread.sleep(forTimeInterval: 0.02) }
        }
        guard let found else {
            let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            Self.stop(process)
            try? FileManager.default.removeItem(at: directory)
            throw FixtureError("smtp_scripted.py did not report a port: \(stderr)")
        }
        port = found
    }

    deinit { stop() }

    func stop() {
        Self.stop(process)
        try? FileManager.default.removeItem(at: directory)
    }

    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 5, execute: watchdog)
        process.terminate()
        process.waitUntilExit()
        watchdog.cancel()
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

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A 127.0.0.1 port bound to a socket that never listens: connecting is refused, and no other
/// test can take the port while this object lives.
final class RefusingPort {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FixtureError("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else {
            close(descriptor)
            throw FixtureError("bind() failed")
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}
