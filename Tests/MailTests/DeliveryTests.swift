import Foundation
import TestSupport
@testable import Mail
import Testing

/// SMTPTransport against the real aiosmtpd server on 127.0.0.1, asserting on each message as
/// Python's email package parses it, and on the raw bytes received.
struct DeliveryTests {
    static func json(_ object: [String: Any]) -> Data {
        try! JSONSerialization.data(withJSONObject: object)
    }

    static func settings(_ server: ScriptedSMTPServer, port: Int? = nil, timeout: Double = 20) throws -> MailSettings {
        try MailSettings(environment: [
            "SMTP_URL": "smtp://127.0.0.1:\(port ?? server.port)?tls=none", "SMTP_FROM_EMAIL": "noreply@sender.example",
            "SMTP_FROM_NAME": "Ünïcödé Sender, Inc.", "SMTP_EHLO_NAME": "client.example",
            "SMTP_CONNECT_TIMEOUT_SECONDS": "5", "SMTP_TIMEOUT_SECONDS": "\(timeout)",
        ])
    }

    /// Validates and sends a body as send-email would.
    static func send(_ body: [String: Any], to server: ScriptedSMTPServer, port: Int? = nil, timeout: Double = 20,
                     transport: SMTPTransport = SMTPTransport()) throws -> EmailDelivery {
        let settings = try settings(server, port: port, timeout: timeout)
        let request = try JSONDecoder().decode(EmailRequest.self, from: json(body))
        return try transport.send(try request.message(from: settings.sender, date: Date()), settings: settings)
    }

    /// The one stored message, checked for well-formedness and parser defects.
    static func received(_ server: ScriptedSMTPServer, sourceLocation: SourceLocation = #_sourceLocation) throws -> (MessageSummary, [UInt8]) {
        #expect(server.storedMessages() == [1], sourceLocation: sourceLocation)
        let raw = try server.raw(1)
        RenderingTests.expectWellFormed(raw, sourceLocation: sourceLocation)
        let summary = try server.summary(1)
        #expect(summary.headerDefects.isEmpty, "\(summary.headerDefects)", sourceLocation: sourceLocation)
        #expect(summary.tree.allDefects.isEmpty, "\(summary.tree.allDefects)", sourceLocation: sourceLocation)
        return (summary, raw)
    }

    @Test func textOnly() throws {
        let server = try ScriptedSMTPServer()
        let delivery = try Self.send(["to": "Ada <ada@example.com>", "subject": "Plain hello", "text": "Hello,\nworld."], to: server)
        #expect(delivery.accepted == ["ada@example.com"])
        #expect(delivery.rejected.isEmpty)
        let (summary, _) = try Self.received(server)
        #expect(summary.tree.contentType == "text/plain")
        #expect(summary.tree.params["charset"] == "utf-8")
        #expect(summary.tree.transferEncoding == "quoted-printable")
        #expect(summary.tree.text == "Hello,\nworld.\n", "a single-part body ends with the message's final line break")
        #expect(summary.subject == "Plain hello")
        #expect(summary.header("Message-ID") == delivery.messageId)
        #expect(delivery.messageId.hasSuffix("@sender.example>"))
        #expect(summary.header("Date") != nil)
        #expect(summary.header("MIME-Version") == "1.0")
        #expect(summary.addresses("from").map(\.address) == ["noreply@sender.example"])
        #expect(summary.addresses("to").map(\.name) == ["Ada"])
        let envelope = try server.envelope(1)
        #expect(envelope["mail_from"] as? String == "noreply@sender.example")
        #expect(envelope["helo"] as? String == "client.example")
    }

    @Test func htmlAndText() throws {
        let server = try ScriptedSMTPServer()
        _ = try Self.send(["to": "a@example.com", "subject": "Both", "text": "plain version", "html": "<p>html <b>version</b> = é</p>"], to: server)
        let (summary, _) = try Self.received(server)
        #expect(summary.tree.contentType == "multipart/alternative")
        #expect(summary.tree.parts.map(\.contentType) == ["text/plain", "text/html"])
        #expect(summary.tree.parts[0].text == "plain version")
        #expect(summary.tree.parts[1].text == "<p>html <b>version</b> = é</p>")
    }

    @Test func attachmentsRoundTripByteForByte() throws {
        let server = try ScriptedSMTPServer()
        let allBytes = [UInt8]((0...255).map { UInt8($0) }) + (0...255).reversed().map { UInt8($0) }
        var rng = SystemRandomNumberGenerator()
        let random = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let crlfy = Array("line\r\nbare\rcr\nlf\r\n.\r\n..\r\n".utf8)
        let files: [(String, String, [UInt8])] = [
            ("every-byte.bin", "application/octet-stream", allBytes),
            ("Résumé – 日本語 😀.pdf", "application/pdf", random),
            ("notes.txt", "text/plain; charset=utf-8", crlfy),
            (String(repeating: "long name ", count: 12) + ".dat", "application/x-custom", []),
        ]
        _ = try Self.send([
            "to": "a@example.com", "subject": "Files", "text": "see attached", "html": "<p>see attached</p>",
            "attachments": files.map { ["filename": $0.0, "contentType": $0.1, "contentBase64": Data($0.2).base64EncodedString()] },
        ], to: server)
        let (summary, _) = try Self.received(server)
        #expect(summary.tree.contentType == "multipart/mixed")
        let parts = summary.tree.parts
        try #require(parts.count == 5)
        #expect(parts[0].contentType == "multipart/alternative")
        for (part, file) in zip(parts.dropFirst(), files) {
            #expect(part.filename == file.0)
            #expect(part.disposition == "attachment")
            #expect(part.transferEncoding == "base64")
            #expect(part.bytes == file.2, "\(file.0) arrives byte for byte")
        }
        #expect(parts[1].contentType == "application/octet-stream")
        #expect(parts[3].contentType == "text/plain")
        #expect(parts[3].params["charset"] == "utf-8")
    }

    @Test func utf8SubjectAndNamesDecodeBackEqual() throws {
        let server = try ScriptedSMTPServer()
        let subject = "Grüße, 日本語の件名 😀👍🏽 — \"quoted\" and long enough to need several encoded words, яблоко"
        let names = ["Jürgen Groß", "山田 太郎", "Zoë \"Z\" O'Connor", "Lovelace, Ada", "😀"]
        _ = try Self.send([
            "to": names.enumerated().map { ["name": $0.element, "email": "to\($0.offset)@example.com"] },
            "cc": ["Çağrı Öztürk <cc@example.com>"], "replyTo": ["name": "Réponse Équipe", "email": "reply@example.com"],
            "subject": subject, "text": "t", "headers": ["X-Campaign": "été 2026", "X-Plain": "spring-sale"],
        ], to: server)
        let (summary, _) = try Self.received(server)
        #expect(summary.subject == subject)
        #expect(summary.addresses("to").map(\.name) == names)
        #expect(summary.addresses("to").map(\.address) == (0..<5).map { "to\($0)@example.com" })
        #expect(summary.addresses("cc").map(\.name) == ["Çağrı Öztürk"])
        #expect(summary.addresses("reply_to").map(\.name) == ["Réponse Équipe"])
        #expect(summary.addresses("from").map(\.name) == ["Ünïcödé Sender, Inc."])
        #expect(summary.header("X-Campaign") == "été 2026")
        #expect(summary.header("X-Plain") == "spring-sale")
    }

    @Test func aThousandLinesWithLeadingDotsArriveIntact() throws {
        let server = try ScriptedSMTPServer()
        let lines = (0..<1000).map { i in
            switch i % 7 {
            case 0: "."
            case 1: ".. two dots"
            case 2: ".leading dot on line \(i)"
            case 3: ""
            default: "line \(i) with some text"
            }
        }
        let text = lines.joined(separator: "\n")
        _ = try Self.send(["to": "a@example.com", "subject": "Dots", "text": text, "html": "<pre>\n" + text + "\n</pre>"], to: server)
        let (summary, raw) = try Self.received(server)
        #expect(summary.tree.parts[0].text == text)
        #expect(summary.tree.parts[1].text == "<pre>\n" + text + "\n</pre>")
        #expect(RenderingTests.lines(raw).contains("."), "the lone dot arrived as a line of its own")
    }

    @Test func fiftyRecipientsWithBccHidden() throws {
        let server = try ScriptedSMTPServer()
        let to = (0..<50).map { "user\($0)@example.com" }
        let bcc = ["hidden1@example.com", "Hidden Two <hidden2@example.com>"]
        let delivery = try Self.send(["to": to, "cc": "copy@example.com", "bcc": bcc, "subject": "Many", "text": "t"], to: server)
        let everyone = to + ["copy@example.com", "hidden1@example.com", "hidden2@example.com"]
        #expect(delivery.accepted == everyone)
        let (summary, raw) = try Self.received(server)
        #expect(try server.envelope(1)["rcpt_tos"] as? [String] == everyone)
        #expect(server.rcptLog() == everyone)
        #expect(summary.addresses("to").map(\.address) == to)
        #expect(!summary.headerNames.contains("bcc"))
        let text = String(decoding: raw, as: UTF8.self).lowercased()
        #expect(!text.contains("hidden"), "no trace of a Bcc recipient in the message")
    }

    @Test func someRecipientsRefusedIsASuccessThatListsThem() throws {
        let server = try ScriptedSMTPServer()
        let delivery = try Self.send(["to": ["a@example.com", "reject550-b@example.com", "defer451-c@example.com"], "subject": "s", "text": "t"], to: server)
        #expect(delivery.accepted == ["a@example.com"])
        #expect(delivery.rejected.map(\.address) == ["reject550-b@example.com", "defer451-c@example.com"])
        #expect(delivery.rejected.map(\.code) == [550, 451])
        #expect(delivery.rejected[0].reply.contains("5.1.1 no such user"))
    }

    @Test(arguments: [
        ("reject550-x@example.com", MailError.Code.permanentFailure, "5.1.1 no such user"),
        ("defer451-x@example.com", .temporaryFailure, "4.3.0 try later"),
        ("data550-x@example.com", .permanentFailure, "5.7.1 message refused"),
    ])
    func refusalsAreClassifiedAndKeepTheReply(recipient: String, code: MailError.Code, reply: String) throws {
        let server = try ScriptedSMTPServer()
        let error = try #require(throws: MailError.self) {
            try Self.send(["to": recipient, "subject": "s", "text": "t"], to: server)
        }
        #expect(error.code == code)
        #expect(error.message.contains(reply), "\(error.message)")
        #expect(server.storedMessages().isEmpty)
    }

    @Test func aServerThatIsDownIsTemporary() throws {
        let server = try ScriptedSMTPServer()
        let refusing = try RefusingPort()
        let error = try #require(throws: MailError.self) {
            try Self.send(["to": "a@example.com", "subject": "s", "text": "t"], to: server, port: refusing.port)
        }
        #expect(error.code == .temporaryFailure)
        #expect(error.message.contains("cannot reach the SMTP server"), "\(error.message)")
    }

    @Test func aHangingServerTimesOut() throws {
        let server = try ScriptedSMTPServer()
        let started = Date()
        let error = try #require(throws: MailError.self) {
            try Self.send(["to": "hang-x@example.com", "subject": "s", "text": "t"], to: server, timeout: 2)
        }
        #expect(error.code == .temporaryFailure)
        #expect(error.message.contains("did not answer in time"), "\(error.message)")
        #expect(Date().timeIntervalSince(started) < 30, "the timeout fired rather than the test's patience")
        #expect(server.rcptLog() == ["hang-x@example.com"])
    }

    @Test func oneTransportReusesItsClientAcrossMessages() throws {
        let server = try ScriptedSMTPServer()
        let transport = SMTPTransport()
        for i in 0..<3 { _ = try Self.send(["to": "a\(i)@example.com", "subject": "s\(i)", "text": "t"], to: server, transport: transport) }
        #expect(server.storedMessages() == [1, 2, 3])
    }

    @Test func missingSettingsNameTheVariable() {
        let cases: [([String: String], String)] = [
            ([:], "SMTP_URL is not set"),
            (["SMTP_URL": "smtp://127.0.0.1:25"], "SMTP_FROM_EMAIL is not set"),
            (["SMTP_URL": "smtp://127.0.0.1:25", "SMTP_FROM_EMAIL": "bad"], "SMTP_FROM_EMAIL"),
            (["SMTP_URL": "http://u:secret@127.0.0.1", "SMTP_FROM_EMAIL": "a@example.com"], "SMTP_URL"),
            (["SMTP_URL": "smtp://127.0.0.1", "SMTP_FROM_EMAIL": "a@example.com", "SMTP_TIMEOUT_SECONDS": "soon"], "SMTP_TIMEOUT_SECONDS"),
            (["SMTP_URL": "smtp://127.0.0.1", "SMTP_FROM_EMAIL": "a@example.com", "SMTP_EHLO_NAME": "bad name"], "SMTP_EHLO_NAME"),
            (["SMTP_URL": "smtp://127.0.0.1", "SMTP_FROM_EMAIL": "a@example.com", "SMTP_FROM_NAME": "x\r\nBcc: y@z.test"], "SMTP_FROM_NAME"),
        ]
        for (environment, expected) in cases {
            let error = #expect(throws: MailError.self) { try MailSettings(environment: environment) }
            #expect(error?.code == .notConfigured)
            #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("secret") == false)
        }
    }

    @Test func caFileSettingMustNameAReadableFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mail-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let caFile = directory.appendingPathComponent("ca.pem").path
        _ = FileManager.default.createFile(atPath: caFile, contents: Data("-----BEGIN CERTIFICATE-----\n".utf8))
        let base = ["SMTP_URL": "smtp://u:secret@127.0.0.1:587?tls=required", "SMTP_FROM_EMAIL": "a@example.com"]

        let cases: [(String?, String?)] = [(nil, nil), ("", nil), (caFile, caFile)]
        for (value, expected) in cases {
            var environment = base
            environment["SMTP_CA_FILE"] = value
            let settings = try MailSettings(environment: environment)
            #expect(settings.server.caFile == expected)
            #expect(settings.server.tls == .required)
        }
        for bad in [directory.appendingPathComponent("absent.pem").path, directory.path] {
            var environment = base
            environment["SMTP_CA_FILE"] = bad
            let error = #expect(throws: MailError.self) { try MailSettings(environment: environment) }
            #expect(error?.code == .notConfigured)
            #expect(error?.message.contains("SMTP_CA_FILE") == true, "\(error?.message ?? "")")
        }
    }
}
