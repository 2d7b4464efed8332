import Foundation
@testable import Mail
import Testing

/// What send-email accepts and refuses, and which field a refusal names.
struct ValidationTests {
    static let sender = try! Mailbox(name: "Conveyor", address: EmailAddress(parsing: "noreply@example.com"))

    /// Decodes a JSON body and validates it as the function does.
    static func validate(_ json: String) throws -> EmailMessage {
        let request = try JSONDecoder().decode(EmailRequest.self, from: Data(json.utf8))
        return try request.message(from: sender, date: Date())
    }

    /// The field a refused body names.
    static func refusedField(_ json: String) -> String? {
        do {
            _ = try validate(json)
            return nil
        } catch let error as MailError {
            #expect(error.code == .invalidInput)
            return error.field
        } catch {
            return "decoding: \(error)"
        }
    }

    @Test(arguments: [
        "a@example.com", "first.last@example.co.uk", "a+tag@sub.example.com", "x!#$%&'*+-/=?^_`{|}~@example.com",
        "a@[192.0.2.1]", "a@[IPv6:2001:db8::1]", "a@[IPv6:::ffff:192.0.2.1]", "a@xn--bcher-kva.example", "A@EXAMPLE.COM",
        String(repeating: "a", count: 64) + "@example.com",
    ])
    func validAddresses(text: String) throws {
        let address = try EmailAddress(parsing: text)
        #expect(address.description == text)
    }

    @Test(arguments: [
        "", "a", "@example.com", "a@", "a@@example.com", "a b@example.com", ".a@example.com", "a.@example.com", "a..b@example.com",
        "\"quoted\"@example.com", "a@localhost", "a@-example.com", "a@example-.com", "a@exa_mple.com", "a@example..com",
        "a@example.com.", "a@1.2.3.4", "a@[1.2.3]", "a@[256.1.1.1]", "a@[IPv6:1::2::3]", "a@[IPv6:12345::]", "ü@example.com",
        "a@exämple.com", "a@example.com\r\nBcc: x@evil.test", "a\n@example.com", "a@example.com\0", "<a@example.com>",
        String(repeating: "a", count: 65) + "@example.com", "a@" + String(repeating: "b", count: 64) + ".com",
    ])
    func invalidAddresses(text: String) {
        #expect(throws: InputProblem.self) { try EmailAddress(parsing: text) }
    }

    @Test(arguments: [
        ("a@example.com", nil, "a@example.com"),
        ("Ada Lovelace <ada@example.com>", "Ada Lovelace", "ada@example.com"),
        ("  \"Lovelace, Ada\"  <ada@example.com> ", "Lovelace, Ada", "ada@example.com"),
        ("<ada@example.com>", nil, "ada@example.com"),
        ("Jürgen Groß <j@example.de>", "Jürgen Groß", "j@example.de"),
    ] as [(String, String?, String)])
    func mailboxStrings(text: String, name: String?, address: String) throws {
        let mailbox = try Mailbox(parsing: text)
        #expect(mailbox.name == name)
        #expect(mailbox.address.description == address)
    }

    @Test(arguments: ["Ada <ada@example.com", "A<b <ada@example.com>", "\"A\"B\" <a@example.com>", "\"unterminated <a@example.com>",
                      "Evil\r\nBcc: x@y.test <a@example.com>", "Tab\tName <a@example.com>"])
    func invalidMailboxStrings(text: String) {
        #expect(throws: InputProblem.self) { try Mailbox(parsing: text) }
    }

    @Test(arguments: [
        ("application/pdf", "application/pdf"), ("Text/CSV; charset=utf-8", "text/csv; charset=\"utf-8\""),
        ("image/svg+xml", "image/svg+xml"), ("text/plain; format=\"flowed\"", "text/plain; format=\"flowed\""),
    ])
    func validMediaTypes(text: String, rendered: String) throws {
        #expect(try MediaType(parsing: text).description == rendered)
    }

    @Test(arguments: ["pdf", "application/", "/pdf", "application/pdf extra", "multipart/mixed", "message/rfc822",
                      "text/plain; name=x.txt", "text/plain; charset", "text/plain; a=\"b\"c\"", "text/plain\r\nX-Evil: 1", "tëxt/plain"])
    func invalidMediaTypes(text: String) {
        #expect(throws: InputProblem.self) { try MediaType(parsing: text) }
    }

    @Test(arguments: [("X-Campaign", "spring"), ("x-trace-id", "abc 123"), ("X-Empty", ""), ("X-A", "Grüße")])
    func allowedHeaders(name: String, value: String) throws {
        try EmailMessage.checkHeader(name: name, value: value)
    }

    @Test(arguments: [("Subject", "x"), ("Bcc", "a@b.test"), ("X-", "x"), ("X Space", "x"), ("X-Colon:", "x"), ("X-Ok", "a\r\nBcc: b@c.test"),
                      ("X-Ok", "a\nb"), ("X-Ok", "a\0b"), ("X-Ok\r\nBcc", "x"), ("X-Ünicode", "x"), ("X-" + String(repeating: "a", count: 63), "x")])
    func refusedHeaders(name: String, value: String) {
        #expect(throws: InputProblem.self) { try EmailMessage.checkHeader(name: name, value: value) }
    }

    /// Every way a client might try to add a header line, and the field the 422 must name.
    static let injectionAttempts: [(String, String)] = [
        (#"{"to":"a@example.com\r\nBcc: victim@evil.test","subject":"s","text":"t"}"#, "to"),
        (#"{"to":["ok@example.com","Evil\nBcc: victim@evil.test <b@example.com>"],"subject":"s","text":"t"}"#, "to[1]"),
        (#"{"to":[{"email":"a@example.com","name":"Ada\r\nBcc: victim@evil.test"}],"subject":"s","text":"t"}"#, "to[0].name"),
        (#"{"to":"a@example.com","cc":["c@example.com\u0000x"],"subject":"s","text":"t"}"#, "cc[0]"),
        (#"{"to":"a@example.com","bcc":["b@example.com\n"],"subject":"s","text":"t"}"#, "bcc[0]"),
        (#"{"to":"a@example.com","replyTo":"r@example.com\r\nX-Evil: 1","subject":"s","text":"t"}"#, "replyTo"),
        (#"{"to":"a@example.com","subject":"hello\r\nBcc: victim@evil.test","text":"t"}"#, "subject"),
        (#"{"to":"a@example.com","subject":"hello\nBcc: victim@evil.test","text":"t"}"#, "subject"),
        (#"{"to":"a@example.com","subject":"hello\rBcc: victim@evil.test","text":"t"}"#, "subject"),
        (#"{"to":"a@example.com","subject":"nul\u0000","text":"t"}"#, "subject"),
        (#"{"to":"a@example.com","subject":"s","text":"t","headers":{"X-Tag":"v\r\nBcc: victim@evil.test"}}"#, "headers.X-Tag"),
        (#"{"to":"a@example.com","subject":"s","text":"t","headers":{"X-Tag\r\nBcc":"victim@evil.test"}}"#, "headers.X-Tag\r\nBcc"),
        (#"{"to":"a@example.com","subject":"s","text":"t","headers":{"Bcc":"victim@evil.test"}}"#, "headers.Bcc"),
        (#"{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a\r\nBcc: v@evil.test","contentType":"text/plain","contentBase64":""}]}"#, "attachments[0].filename"),
        (#"{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a.txt","contentType":"text/plain\r\nBcc: v@evil.test","contentBase64":""}]}"#, "attachments[0].contentType"),
        (#"{"to":"a@example.com","subject":"s","text":"t","messageId":"<x@example.com>\r\nBcc: v@evil.test"}"#, "messageId"),
    ]

    @Test(arguments: injectionAttempts)
    func headerInjectionIsRefusedNamingTheField(json: String, field: String) {
        #expect(Self.refusedField(json) == field)
    }

    @Test(arguments: [
        (#"{"to":[],"subject":"s","text":"t"}"#, "to"),
        (#"{"to":"a@example.com","subject":"","text":"t"}"#, "subject"),
        (#"{"to":"a@example.com","subject":"s"}"#, "text"),
        (#"{"to":"a@example.com","subject":"s","text":"","html":""}"#, "text"),
        (#"{"to":"a@example.com","subject":"s","text":"t","headers":{"X-A":"1","x-a":"2"}}"#, "headers.x-a"),
        (#"{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a","contentType":"text/plain","contentBase64":"!!"}]}"#, "attachments[0].contentBase64"),
        (#"{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"","contentType":"text/plain","contentBase64":""}]}"#, "attachments[0].filename"),
        (#"{"to":"a@example.com","subject":"s","text":"nul\u0000"}"#, "text"),
        (#"{"to":"a@example.com","subject":"s","html":"nul\u0000"}"#, "html"),
        (#"{"to":"a@example.com","subject":"s","text":"t","messageId":"no-at-sign"}"#, "messageId"),
    ])
    func otherRefusalsNameTheField(json: String, field: String) {
        #expect(Self.refusedField(json) == field)
    }

    @Test func limitsOnRecipientsSubjectAndAttachments() throws {
        func list(_ n: Int, _ prefix: String) -> String { "[" + (0..<n).map { "\"\(prefix)\($0)@example.com\"" }.joined(separator: ",") + "]" }
        #expect(Self.refusedField(#"{"to":\#(list(50, "t")),"subject":"s","text":"t"}"#) == nil)
        #expect(Self.refusedField(#"{"to":\#(list(51, "t")),"subject":"s","text":"t"}"#) == "to")
        #expect(Self.refusedField(#"{"to":"a@example.com","cc":\#(list(51, "c")),"subject":"s","text":"t"}"#) == "cc")
        #expect(Self.refusedField(#"{"to":\#(list(50, "t")),"cc":\#(list(50, "c")),"subject":"s","text":"t"}"#) == nil)
        #expect(Self.refusedField(#"{"to":\#(list(50, "t")),"cc":\#(list(50, "c")),"bcc":["x@example.com"],"subject":"s","text":"t"}"#) == "bcc")
        #expect(Self.refusedField(#"{"to":\#(list(50, "t")),"cc":\#(list(50, "c")),"bcc":["t0@EXAMPLE.com"],"subject":"s","text":"t"}"#) == nil,
                "a repeated recipient is counted once")
        let subject998 = String(repeating: "é", count: 499)
        #expect(Self.refusedField(#"{"to":"a@example.com","subject":"\#(subject998)","text":"t"}"#) == nil)
        #expect(Self.refusedField(#"{"to":"a@example.com","subject":"\#(subject998)x","text":"t"}"#) == "subject")

        let tenMiB = Data(count: 10 << 20).base64EncodedString()
        #expect(Self.refusedField(#"{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a","contentType":"application/octet-stream","contentBase64":"\#(tenMiB)"}]}"#) == nil)
        #expect(Self.refusedField(#"{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a","contentType":"application/octet-stream","contentBase64":"\#(tenMiB)"},{"filename":"b","contentType":"text/plain","contentBase64":"QQ=="}]}"#) == "attachments[1]")
    }

    @Test func shapesAreCheckedByTheDecoder() {
        let bad = [
            #"{"to":"a@example.com","subject":"s","text":"t","atachments":[]}"#,
            #"{"to":42,"subject":"s","text":"t"}"#,
            #"{"to":"a@example.com","subject":"s","text":"t","headers":{"X-A":1}}"#,
            #"{"to":[{"email":"a@example.com","nam":"x"}],"subject":"s","text":"t"}"#,
            #"{"subject":"s","text":"t"}"#,
        ]
        for json in bad {
            #expect(throws: DecodingError.self, "\(json)") { try JSONDecoder().decode(EmailRequest.self, from: Data(json.utf8)) }
        }
    }

    @Test func bccStaysOutOfTheHeadersButInTheEnvelope() throws {
        let message = try Self.validate(#"{"to":"a@example.com","cc":"c@example.com","bcc":["hidden@example.com","A@EXAMPLE.COM"],"subject":"s","text":"t"}"#)
        // Local parts keep their case (only the receiving server may fold it); domains do not.
        #expect(message.envelopeRecipients == ["a@example.com", "c@example.com", "hidden@example.com", "A@EXAMPLE.COM"])
        let rendered = String(decoding: message.rendered(), as: UTF8.self)
        #expect(!rendered.lowercased().contains("hidden@example.com"))
        // No Bcc header (random boundaries and Message-IDs may well contain the letters "bcc").
        #expect(!rendered.split(separator: "\r\n").contains { $0.lowercased().hasPrefix("bcc:") })
    }
}
