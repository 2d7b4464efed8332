import FoundationEssentials

/// A message ready to render: every part validated, so rendering cannot fail and no value can
/// add a header line.
public struct EmailMessage: Sendable {
    /// The sender: the From header and, by its address, MAIL FROM.
    public var from: Mailbox
    /// The To header's recipients.
    public var to: [Mailbox]
    /// The Cc header's recipients.
    public var cc: [Mailbox]
    /// Recipients only in RCPT TO: never rendered into a header.
    public var bcc: [Mailbox]
    /// The Reply-To header's mailboxes.
    public var replyTo: [Mailbox]
    /// Any Unicode text; sent as RFC 2047 encoded words when not plain ASCII.
    public var subject: String
    /// The text/plain body.
    public var text: String?
    /// The text/html body.
    public var html: String?
    /// Files sent after the body in multipart/mixed.
    public var attachments: [Attachment]
    /// Extra `X-` headers, in order.
    public var headers: [(name: String, value: String)]
    /// The Message-ID header.
    public var messageID: MessageID
    /// The Date header.
    public var date: Date

    /// Creates a message, checking what makes it sendable: a recipient, a body, a subject
    /// without line breaks, and `X-` header names in token syntax with single-line values.
    public init(from: Mailbox, to: [Mailbox], cc: [Mailbox] = [], bcc: [Mailbox] = [], replyTo: [Mailbox] = [],
                subject: String, text: String? = nil, html: String? = nil, attachments: [Attachment] = [],
                headers: [(name: String, value: String)] = [], messageID: MessageID, date: Date) throws(MailError) {
        guard !(to.isEmpty && cc.isEmpty && bcc.isEmpty) else { throw MailError.invalid("to", "needs at least one recipient") }
        guard text != nil || html != nil else { throw MailError.invalid("text", "text or html is required") }
        do { try Self.checkSubject(subject) } catch { throw MailError.invalid("subject", error) }
        for h in headers {
            do { try Self.checkHeader(name: h.name, value: h.value) } catch { throw MailError.invalid("headers.\(h.name)", error) }
        }
        for body in [text, html].compactMap({ $0 }) where body.utf8.contains(0) {
            throw MailError.invalid(text == body ? "text" : "html", "must not contain NUL")
        }
        self.from = from
        self.to = to
        self.cc = cc
        self.bcc = bcc
        self.replyTo = replyTo
        self.subject = subject
        self.text = text
        self.html = html
        self.attachments = attachments
        self.headers = headers
        self.messageID = messageID
        self.date = date
    }

    /// The RCPT TO list: to, cc and bcc, each mailbox once (domains compared without case).
    public var envelopeRecipients: [String] {
        var seen = Set<String>()
        return (to + cc + bcc).compactMap { m in
            seen.insert(m.address.deduplicationKey).inserted ? m.address.description : nil
        }
    }

    /// The longest subject: RFC 5322's line limit, before folding.
    public static let maxSubjectBytes = 998
    /// The longest `X-` header name.
    public static let maxHeaderNameLength = 64
    /// The longest `X-` header value, in UTF-8 bytes, before folding.
    public static let maxHeaderValueBytes = 998

    static func checkSubject(_ subject: String) throws(InputProblem) {
        try HeaderSafety.check(subject)
        guard subject.utf8.count <= maxSubjectBytes else { throw InputProblem("is longer than \(maxSubjectBytes) bytes") }
    }

    /// `X-` then token characters (RFC 7230), and a value with no control character but tab.
    public static func checkHeader(name: String, value: String) throws(InputProblem) {
        try HeaderSafety.check(name)
        guard name.utf8.count > 2, name.utf8.count <= maxHeaderNameLength, name.lowercased().hasPrefix("x-"),
              MediaType.isToken(name[...]) else {
            throw InputProblem("only X- headers are allowed: X- then letters, digits and !#$%&'*+-.^_`|~, at most \(maxHeaderNameLength) characters")
        }
        try HeaderSafety.check(value)
        guard value.utf8.count <= maxHeaderValueBytes else { throw InputProblem("is longer than \(maxHeaderValueBytes) bytes") }
    }
}
