import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The HTTP echo server (Tests/Fixtures/http_echo.py).
final class EchoServer {
    let server: FixtureServer
    var base: String { "http://127.0.0.1:\(server.port)" }

    init(arguments: [String] = []) throws {
        server = try FixtureServer(script: "http_echo.py", arguments: arguments)
    }
}

/// The SMTP sink (Tests/Fixtures/smtp_sink.py) and the messages it stored.
final class SMTPSink {
    let server: FixtureServer
    let maildir: URL
    var url: String { "smtp://127.0.0.1:\(server.port)" }

    init(auth: String? = nil) throws {
        let maildir = FileManager.default.temporaryDirectory
            .appendingPathComponent("curl-tests-mail-\(UUID().uuidString)")
        self.maildir = maildir
        server = try FixtureServer(
            script: "smtp_sink.py",
            arguments: ["--maildir", maildir.path] + (auth.map { ["--auth", $0] } ?? []))
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(at: maildir)
    }

    /// The stored messages' numbers, in order.
    func storedMessages() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: maildir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { Int($0.dropLast(5)) }.sorted()
    }

    /// Message `number` as received (dot-unstuffed).
    func message(_ number: Int) throws -> Data {
        try Data(contentsOf: maildir.appendingPathComponent("\(number).eml"))
    }

    /// Message `number`'s envelope: mail_from, rcpt_tos, peer, helo.
    func envelope(_ number: Int) throws -> [String: Any] {
        let data = try Data(contentsOf: maildir.appendingPathComponent("\(number).json"))
        let object = try JSONSerialization.jsonObject(with: data)
        return try #require(object as? [String: Any])
    }
}
