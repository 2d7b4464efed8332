import Curl
import Foundation
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
