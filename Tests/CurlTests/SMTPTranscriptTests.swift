@testable import Curl
import Testing

/// Pairing commands with replies, fed the way CURLOPT_DEBUGFUNCTION delivers them.
@Suite struct SMTPTranscriptTests {
    enum Chunk: Sendable {
        case sent(String)
        case received(String)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var chunks: [Chunk]
        var recipients: [SMTPReply]
        var mail: SMTPReply?
        var final: SMTPReply?
        var last: SMTPReply?
        var testDescription: String { name }
    }

    static let ok = SMTPReply(code: 250, text: "250 OK")

    @Test(arguments: [
        Case(
            name: "plain session",
            chunks: [
                .received("220 sink.test ESMTP\r\n"), .sent("EHLO me\r\n"),
                .received("250-sink.test\r\n"), .received("250-SIZE 100\r\n"), .received("250 HELP\r\n"),
                .sent("MAIL FROM:<a@b> SIZE=10\r\n"), .received("250 OK\r\n"),
                .sent("RCPT TO:<c@d>\r\n"), .received("250 OK\r\n"),
                .sent("RCPT TO:<reject550-e@d>\r\n"), .received("550 5.1.1 no such user\r\n"),
                .sent("DATA\r\n"), .received("354 End data with <CR><LF>.<CR><LF>\r\n"),
                .received("250 OK queued as 7\r\n"),
            ],
            recipients: [ok, SMTPReply(code: 550, text: "550 5.1.1 no such user")],
            mail: ok, final: SMTPReply(code: 250, text: "250 OK queued as 7"),
            last: SMTPReply(code: 250, text: "250 OK queued as 7")),
        Case(
            name: "split and merged chunks, LF only",
            chunks: [
                .sent("RCPT T"), .sent("O:<x@y>\r\nRCPT TO:<"), .received("45"), .received("1 4.3.0 try"),
                .received(" later\r\n"), .sent("z@y>\n"), .received("250 OK\n"),
            ],
            recipients: [SMTPReply(code: 451, text: "451 4.3.0 try later"), ok],
            last: ok),
        Case(
            name: "multi-line reply joined",
            chunks: [
                .sent("RCPT TO:<x@y>\r\n"),
                .received("550-5.1.1 first line\r\n550-second line\r\n550 5.1.1 last line\r\n"),
            ],
            recipients: [SMTPReply(code: 550, text: "550 5.1.1 first line second line 5.1.1 last line")],
            last: SMTPReply(code: 550, text: "550 5.1.1 first line second line 5.1.1 last line")),
        Case(
            name: "QUIT's reply does not hide the refusal",
            chunks: [
                .sent("MAIL FROM:<a@b>\r\n"), .received("530 5.7.0 Authentication required\r\n"),
                .sent("QUIT\r\n"), .received("221 Bye\r\n"),
            ],
            recipients: [], mail: SMTPReply(code: 530, text: "530 5.7.0 Authentication required"),
            last: SMTPReply(code: 530, text: "530 5.7.0 Authentication required")),
        Case(
            name: "AUTH lines are not commands we track",
            chunks: [
                .sent("AUTH PLAIN\r\n"), .received("334 \r\n"), .sent("AGJvYgBzM2NyZXQ=\r\n"),
                .received("535 5.7.8 Authentication credentials invalid\r\n"),
            ],
            recipients: [], last: SMTPReply(code: 535, text: "535 5.7.8 Authentication credentials invalid")),
        Case(
            name: "DATA refused before the body",
            chunks: [.sent("DATA\r\n"), .received("554 no valid recipients\r\n")],
            recipients: [], last: SMTPReply(code: 554, text: "554 no valid recipients")),
        Case(
            name: "the message itself refused",
            chunks: [.sent("DATA\r\n"), .received("354 go ahead\r\n"), .received("554 5.6.0 rejected\r\n")],
            recipients: [], final: SMTPReply(code: 554, text: "554 5.6.0 rejected"),
            last: SMTPReply(code: 554, text: "554 5.6.0 rejected")),
        Case(
            name: "garbage is ignored",
            chunks: [.sent("RCPT TO:<x@y>\r\n"), .received("hello\r\n"), .received("250 OK\r\n")],
            recipients: [ok], last: ok),
    ])
    func pairsRepliesWithCommands(_ test: Case) {
        var transcript = SMTPTranscript()
        for chunk in test.chunks {
            switch chunk {
            case .sent(let text): Array(text.utf8).withUnsafeBytes { transcript.sent($0) }
            case .received(let text): Array(text.utf8).withUnsafeBytes { transcript.received($0) }
            }
        }
        #expect(transcript.recipientReplies == test.recipients)
        #expect(transcript.mailReply == test.mail)
        #expect(transcript.finalReply == test.final)
        #expect(transcript.lastReply == test.last)
    }
}
