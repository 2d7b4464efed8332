import Curl
import Foundation
import TestSupport
import Testing

/// SMTPClient against the real aiosmtpd sink on 127.0.0.1.
@Suite struct SMTPClientTests {
    /// A small message with CRLF endings and body lines that need dot-stuffing.
    private func message(subject: String = "Hello") -> Data {
        let lines = [
            "From: Sender <sender@example.test>", "To: a@example.test", "Subject: \(subject)",
            "Message-ID: <\(UUID().uuidString)@example.test>", "", "First line.", ".", "..",
            ".hidden starts with a dot", "Ünïcödé stays UTF-8.", "last line",
        ]
        return Data(lines.map { $0 + "\r\n" }.joined().utf8)
    }

    private func server(_ sink: SMTPSink, ehloName: String = "client.test") -> SMTPServer {
        SMTPServer(url: sink.url, tls: .none, ehloName: ehloName, connectTimeout: 5, timeout: 20)
    }

    @Test func deliversOneMessageToThreeRecipients() throws {
        let sink = try SMTPSink()
        let body = message()
        let recipients = ["a@example.test", "b@example.test", "c@example.test"]
        let delivery = try SMTPClient().send(
            from: "sender@example.test", recipients: recipients, message: body, server: server(sink))

        #expect(delivery.accepted == recipients)
        #expect(delivery.rejected.isEmpty)
        #expect(delivery.reply == "250 OK queued as 1")
        #expect(sink.storedMessages() == [1])
        #expect(try sink.message(1) == body, "bytes match, dot-stuffed lines intact")
        let envelope = try sink.envelope(1)
        #expect(envelope["mail_from"] as? String == "sender@example.test")
        #expect(envelope["rcpt_tos"] as? [String] == recipients)
        #expect(envelope["helo"] as? String == "client.test", "the URL path is the EHLO name")
    }

    @Test func leadingDotIsStuffedAndAMissingFinalCRLFAdded() throws {
        let sink = try SMTPSink()
        let text = ".starts with a dot\r\n.\r\nSubject: x\r\n\r\nno final line break"
        _ = try SMTPClient().send(
            from: "s@example.test", recipients: ["a@example.test"], message: Data(text.utf8), server: server(sink))
        #expect(try sink.message(1) == Data((text + "\r\n").utf8))
    }

    @Test func bracketedAndNullSendersAreAccepted() throws {
        let sink = try SMTPSink()
        let client = try SMTPClient()
        _ = try client.send(from: "<s@example.test>", recipients: ["<a@example.test>"], message: message(), server: server(sink))
        _ = try client.send(from: "", recipients: ["b@example.test"], message: message(), server: server(sink))
        #expect(try sink.envelope(1)["mail_from"] as? String == "s@example.test")
        #expect(try sink.envelope(1)["rcpt_tos"] as? [String] == ["a@example.test"])
        #expect(try sink.envelope(2)["mail_from"] as? String == "<>", "the null reverse-path of bounces")
    }

    @Test func fiftyRecipientsInOneUpload() throws {
        let sink = try SMTPSink()
        let recipients = (1...50).map { "user\($0)@example.test" }
        let delivery = try SMTPClient().send(
            from: "sender@example.test", recipients: recipients, message: message(), server: server(sink))
        #expect(delivery.accepted == recipients)
        #expect(sink.storedMessages() == [1])
        #expect(try sink.envelope(1)["rcpt_tos"] as? [String] == recipients)
    }

    @Test func oneRejectedRecipientDoesNotStopTheOthers() throws {
        let sink = try SMTPSink()
        let delivery = try SMTPClient().send(
            from: "sender@example.test",
            recipients: ["a@example.test", "reject550-b@example.test", "c@example.test"],
            message: message(), server: server(sink))

        #expect(delivery.accepted == ["a@example.test", "c@example.test"])
        #expect(delivery.rejected == [
            SMTPRejection(address: "reject550-b@example.test", code: 550, reply: "550 5.1.1 no such user")
        ])
        #expect(delivery.rejected.first?.isTransient == false)
        #expect(try sink.envelope(1)["rcpt_tos"] as? [String] == ["a@example.test", "c@example.test"])
    }

    @Test func deferredRecipientAmongAcceptedIsReportedAsTransient() throws {
        let sink = try SMTPSink()
        let delivery = try SMTPClient().send(
            from: "s@example.test", recipients: ["defer451-a@example.test", "b@example.test"],
            message: message(), server: server(sink))
        #expect(delivery.accepted == ["b@example.test"])
        #expect(delivery.rejected == [
            SMTPRejection(address: "defer451-a@example.test", code: 451, reply: "451 4.3.0 try later")
        ])
        #expect(delivery.rejected.first?.isTransient == true)
    }

    @Test func everyRecipientRejectedThrowsServerRejected() throws {
        let sink = try SMTPSink()
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(
                from: "s@example.test",
                recipients: ["reject550-a@example.test", "reject550-b@example.test"],
                message: message(), server: server(sink))
        }
        #expect(error.code == .serverRejected)
        #expect(error.responseCode == 550)
        #expect(!error.isTransient)
        #expect(error.message.contains("5.1.1 no such user"), "\(error.message)")
        #expect(error.message.contains("reject550-b@example.test"))
        #expect(sink.storedMessages().isEmpty)
    }

    @Test func temporaryRejectionIsTransient() throws {
        let sink = try SMTPSink()
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(
                from: "s@example.test", recipients: ["defer451-a@example.test"], message: message(),
                server: server(sink))
        }
        #expect(error.code == .serverRejected)
        #expect(error.responseCode == 451)
        #expect(error.isTransient)
        #expect(error.message.contains("451 4.3.0 try later"))
    }

    @Test func refusedDataThrowsServerRejected() throws {
        let sink = try SMTPSink()
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(
                from: "s@example.test", recipients: ["a@example.test", "datafail@example.test"],
                message: message(), server: server(sink))
        }
        #expect(error.code == .serverRejected)
        #expect(error.responseCode == 554)
        #expect(!error.isTransient)
        #expect(error.message.contains("554 5.6.0 rejected"), "\(error.message)")
        #expect(sink.storedMessages().isEmpty)
    }

    @Test func oneClientKeepsWorkingAfterARefusalAndReusesItsConnection() throws {
        let sink = try SMTPSink()
        let client = try SMTPClient()
        _ = try client.send(from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server(sink))
        #expect(throws: CurlError.self) {
            try client.send(from: "s@example.test", recipients: ["reject550-x@example.test"], message: message(), server: server(sink))
        }
        _ = try client.send(from: "s@example.test", recipients: ["b@example.test"], message: message(), server: server(sink))
        _ = try client.send(from: "s@example.test", recipients: ["c@example.test"], message: message(), server: server(sink))

        #expect(sink.storedMessages() == [1, 2, 3])
        let peers = try [1, 2, 3].map { try sink.envelope($0)["peer"] as? [Any] }
        let ports = peers.map { $0?.last as? Int }
        #expect(ports[1] != nil && ports[1] == ports[2], "consecutive messages share a connection: \(ports)")
    }

    @Test func authenticatesWithCredentials() throws {
        let sink = try SMTPSink(auth: "mailer:p@ss w0rd:x")
        var server = server(sink)
        server.username = "mailer"
        server.password = "p@ss w0rd:x"
        let delivery = try SMTPClient().send(
            from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        #expect(delivery.accepted == ["a@example.test"])
        #expect(sink.storedMessages() == [1])
    }

    @Test func wrongPasswordFailsWithoutShowingIt() throws {
        let sink = try SMTPSink(auth: "mailer:right-secret")
        var server = server(sink)
        server.username = "mailer"
        server.password = "wrong-secret-42"
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(
                from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        }
        #expect(error.code == .serverRejected)
        #expect(error.responseCode == 535)
        #expect(!error.isTransient)
        #expect(!error.description.contains("wrong-secret-42"))
        #expect(!"\(server)".contains("wrong-secret-42"))
        #expect(sink.storedMessages().isEmpty)
    }

    @Test func missingCredentialsAreRefusedByTheServer() throws {
        let sink = try SMTPSink(auth: "mailer:secret")
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(
                from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server(sink))
        }
        #expect(error.code == .serverRejected)
        #expect(error.responseCode == 530)
    }

    @Test(arguments: [
        ("s@example.test", ["a@example.test\r\nRCPT TO:<evil@example.test>"]),
        ("s@example.test", ["a@example.test", "b@example.test\n"]),
        ("s@example.test", ["a@example.test\0"]),
        ("s@example.test\r\nRCPT TO:<evil@example.test>", ["a@example.test"]),
        ("s@example.test", [""]),
        ("s@example.test", []),
    ])
    func injectionIsRefusedBeforeConnecting(from: String, recipients: [String]) throws {
        let sink = try SMTPSink()
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(from: from, recipients: recipients, message: message(), server: server(sink))
        }
        #expect(error.code == .invalidInput)
        #expect(error.curlCode == 0, "libcurl never ran")
        #expect(sink.storedMessages().isEmpty)
    }

    @Test(arguments: ["Subject: x\nbody\r\n", "Subject: x\r\n\r\nbody\n.\r\nRCPT TO:<e@x>\r\n", "a\rb\r\n", "end\r"])
    func bareLineEndingsAreRefused(text: String) throws {
        let sink = try SMTPSink()
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(
                from: "s@example.test", recipients: ["a@example.test"], message: Data(text.utf8), server: server(sink))
        }
        #expect(error.code == .invalidInput)
        #expect(sink.storedMessages().isEmpty)
    }

    @Test func requiredTLSNeverFallsBackToPlainText() throws {
        let sink = try SMTPSink()
        var server = server(sink)
        server.tls = .required
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        }
        #expect(error.code == .tls, "\(error)")
        #expect(sink.storedMessages().isEmpty)
    }

    @Test func opportunisticTLSFallsBackWhenStartTLSIsNotOffered() throws {
        let sink = try SMTPSink()
        let server = try SMTPServer(parsing: sink.url, connectTimeout: 5, timeout: 20)
        #expect(server.tls == .opportunistic)
        let delivery = try SMTPClient().send(
            from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        #expect(delivery.accepted == ["a@example.test"])
        #expect(try sink.envelope(1)["helo"] as? String == "localhost")
    }

    @Test func refusedConnectionIsTransient() throws {
        let closed = try RefusingPort()
        let server = SMTPServer(url: "smtp://127.0.0.1:\(closed.port)", tls: .none)
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        }
        #expect(error.code == .couldNotConnect)
        #expect(error.isTransient)
    }
}

/// STARTTLS and smtps:// against the sink speaking TLS with a certificate from a throwaway CA,
/// trusted only through `SMTPServer.caFile`.
extension SMTPClientTests {
    private static let user = "tls-mailer-7f3a"
    private static let password = "pa55:w0rd@tls-9c1e"

    private func tlsServer(_ sink: TLSSink, _ tls: SMTPServer.TLS, caFile: String?) -> SMTPServer {
        SMTPServer(
            url: "\(tls == .implicit ? "smtps" : "smtp")://127.0.0.1:\(sink.port)", username: Self.user,
            password: Self.password, tls: tls, ehloName: "client.test", connectTimeout: 5, timeout: 20,
            caFile: caFile)
    }

    @Test(arguments: ["PLAIN", "LOGIN"])
    func requiredTLSDeliversOverStartTLSWithAuth(mechanism: String) throws {
        let ca = try TestCertificates()
        let sink = try TLSSink(mode: "starttls", certificates: ca, auth: "\(Self.user):\(Self.password)", mechanism: mechanism)
        let body = message(subject: "over STARTTLS")
        let delivery = try SMTPClient().send(
            from: "s@example.test", recipients: ["a@example.test", "b@example.test"], message: body,
            server: tlsServer(sink, .required, caFile: ca.caFile))

        #expect(delivery.accepted == ["a@example.test", "b@example.test"])
        #expect(sink.storedMessages() == [1])
        #expect(try sink.message(1) == body)
        let envelope = try sink.envelope(1)
        #expect(envelope["tls"] as? Bool == true, "the message travelled inside the TLS session")
        #expect((envelope["tls_version"] as? String)?.hasPrefix("TLSv1.") == true)
        #expect(envelope["auth_mechanism"] as? String == mechanism)
        #expect(envelope["auth_user"] as? String == Self.user)
        #expect(envelope["helo"] as? String == "client.test")
        #expect(envelope["rcpt_tos"] as? [String] == ["a@example.test", "b@example.test"])
    }

    @Test func opportunisticTLSUpgradesWhenStartTLSIsOffered() throws {
        let ca = try TestCertificates()
        let sink = try TLSSink(mode: "starttls", certificates: ca, auth: "\(Self.user):\(Self.password)")
        let body = message()
        _ = try SMTPClient().send(
            from: "s@example.test", recipients: ["a@example.test"], message: body,
            server: tlsServer(sink, .opportunistic, caFile: ca.caFile))
        #expect(try sink.message(1) == body)
        #expect(try sink.envelope(1)["tls"] as? Bool == true)
    }

    @Test func smtpsDeliversWithImplicitTLS() throws {
        let ca = try TestCertificates()
        let sink = try TLSSink(mode: "implicit", certificates: ca, auth: "\(Self.user):\(Self.password)")
        // Parsed as SMTP_URL would be, with the host name (not the IP) checked against the SAN.
        let user = Self.user.replacingOccurrences(of: ":", with: "%3A")
        let password = Self.password.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: "@", with: "%40")
        var server = try SMTPServer(
            parsing: "smtps://\(user):\(password)@localhost:\(sink.port)", ehloName: "client.test",
            connectTimeout: 5, timeout: 20)
        server.caFile = ca.caFile
        #expect(server.tls == .implicit)
        let client = try SMTPClient()
        let first = message(subject: "first over smtps")
        let second = message(subject: "second over smtps")
        _ = try client.send(from: "s@example.test", recipients: ["a@example.test"], message: first, server: server)
        _ = try client.send(from: "s@example.test", recipients: ["b@example.test"], message: second, server: server)

        #expect(sink.storedMessages() == [1, 2])
        #expect(try sink.message(1) == first)
        #expect(try sink.message(2) == second)
        for number in [1, 2] {
            let envelope = try sink.envelope(number)
            #expect(envelope["tls"] as? Bool == true)
            #expect(envelope["auth_user"] as? String == Self.user)
        }
    }

    /// Without the right CA, both modes stop at the handshake: nothing sent, credentials included.
    @Test(arguments: ["starttls", "implicit"], [CAChoice.none, .otherCA, .missingFile])
    func untrustedCertificateIsATLSErrorAndNothingIsDelivered(mode: String, choice: CAChoice) throws {
        let ca = try TestCertificates()
        let sink = try TLSSink(mode: mode, certificates: ca, auth: "\(Self.user):\(Self.password)")
        let other = try TestCertificates()
        let caFile: String? = switch choice {
        case .none: nil
        case .otherCA: other.caFile
        case .missingFile: ca.directory.appendingPathComponent("absent.pem").path
        }
        let server = tlsServer(sink, mode == "implicit" ? .implicit : .required, caFile: caFile)
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        }
        #expect(error.code == .tls, "\(error)")
        #expect(!error.isTransient)
        #expect(sink.storedMessages().isEmpty)
        #expect(!error.description.contains(Self.password))
        #expect(!error.description.contains(Self.user))
    }

    @Test func wrongPasswordOverTLSNeverShowsTheCredentials() throws {
        let ca = try TestCertificates()
        let sink = try TLSSink(mode: "starttls", certificates: ca, auth: "\(Self.user):right-\(Self.password)")
        let server = tlsServer(sink, .required, caFile: ca.caFile)
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        }
        #expect(error.code == .serverRejected, "\(error)")
        #expect(error.responseCode == 535)
        for text in [error.description, error.message, "\(server)", String(reflecting: server)] {
            #expect(!text.contains(Self.password))
        }
        #expect(!error.description.contains(Self.user))
        #expect(sink.storedMessages().isEmpty)
    }

    @Test func emptyCAFileIsRefusedBeforeConnecting() throws {
        let closed = try RefusingPort()
        let server = SMTPServer(url: "smtp://127.0.0.1:\(closed.port)", tls: .required, caFile: "")
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(from: "s@example.test", recipients: ["a@example.test"], message: message(), server: server)
        }
        #expect(error.code == .invalidInput)
        #expect(error.curlCode == 0)
    }
}

/// Which trust anchors a TLS test gives the client.
enum CAChoice: Sendable, CustomTestStringConvertible {
    case none, otherCA, missingFile
    var testDescription: String {
        switch self {
        case .none: "system CAs only"
        case .otherCA: "an unrelated CA"
        case .missingFile: "a CA file that does not exist"
        }
    }
}

/// A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost, made with
/// openssl in a temp dir that goes with the object.
final class TestCertificates {
    let directory: URL
    var caFile: String { directory.appendingPathComponent("ca.pem").path }
    var certificate: String { directory.appendingPathComponent("server.pem").path }
    var key: String { directory.appendingPathComponent("server.key").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("curl-tls-ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let caKey = directory.appendingPathComponent("ca.key").path
        // EC keys: generating them is instant, unlike RSA.
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
        do {
            try Self.openssl(["req", "-x509"] + ec + [
                "-subj", "/CN=Conveyor test CA", "-keyout", caKey, "-out", caFile,
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            ])
            try Self.openssl(["req", "-x509"] + ec + [
                "-subj", "/CN=localhost", "-CA", caFile, "-CAkey", caKey, "-keyout", key, "-out", certificate,
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth",
            ])
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError(message: "openssl \(arguments[0]) failed: \(String(decoding: output, as: UTF8.self))")
        }
    }
}

/// smtp_sink.py speaking TLS (`mode` starttls or implicit) with `certificates`' server cert.
final class TLSSink {
    let server: FixtureServer
    let maildir: URL
    var port: Int { server.port }

    init(mode: String, certificates: TestCertificates, auth: String, mechanism: String? = nil) throws {
        let maildir = FileManager.default.temporaryDirectory.appendingPathComponent("curl-tests-mail-\(UUID().uuidString)")
        self.maildir = maildir
        server = try FixtureServer(
            script: "smtp_sink.py",
            arguments: [
                "--maildir", maildir.path, "--auth", auth, "--tls", mode,
                "--tls-cert", certificates.certificate, "--tls-key", certificates.key,
            ] + (mechanism.map { ["--auth-mechanism", $0] } ?? []))
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(at: maildir)
    }

    func storedMessages() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: maildir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.compactMap { Int($0.dropLast(5)) }.sorted()
    }

    func message(_ number: Int) throws -> Data {
        try Data(contentsOf: maildir.appendingPathComponent("\(number).eml"))
    }

    func envelope(_ number: Int) throws -> [String: Any] {
        let data = try Data(contentsOf: maildir.appendingPathComponent("\(number).json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
