/// The send-email input as a client sends it, before validation:
/// `{to, cc?, bcc?, replyTo?, subject, text?, html?, attachments?, headers?, messageId?}`.
///
/// Decoding checks only shapes (a wrong type or unknown field is a `DecodingError` naming its
/// path); `message(from:date:)` checks everything else and names the field it refuses.
public struct EmailRequest: Sendable, Decodable {
    /// One recipient: `"Name <addr>"` / `"addr"`, or `{"email": …, "name": …}`.
    public enum Recipient: Sendable, Decodable, Equatable {
        case text(String)
        case parts(email: String, name: String?)

        enum Keys: String, CodingKey, CaseIterable { case email, name }

        public init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                self = .text(text)
                return
            }
            guard let c = try? decoder.container(keyedBy: Keys.self) else {
                throw DecodingError.typeMismatch(String.self, .init(codingPath: decoder.codingPath,
                    debugDescription: "must be an address string or {\"email\", \"name\"}"))
            }
            try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
            self = .parts(email: try c.decode(String.self, forKey: .email), name: try c.decodeIfPresent(String.self, forKey: .name))
        }
    }

    /// One attachment as sent: the content is base64 text.
    public struct AttachmentInput: Sendable, Decodable, Equatable {
        /// The name the recipient sees.
        public var filename: String
        /// A media type such as `application/pdf`.
        public var contentType: String
        /// The bytes in standard base64.
        public var contentBase64: String

        enum CodingKeys: String, CodingKey, CaseIterable { case filename, contentType, contentBase64 }

        public init(from decoder: any Decoder) throws {
            try rejectUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
            let c = try decoder.container(keyedBy: CodingKeys.self)
            filename = try c.decode(String.self, forKey: .filename)
            contentType = try c.decode(String.self, forKey: .contentType)
            contentBase64 = try c.decode(String.self, forKey: .contentBase64)
        }
    }

    /// One address or a list of them, as the client wrote it.
    public struct Recipients: Sendable, Equatable {
        /// The recipients in order.
        public var items: [Recipient]
        /// False for a single address: errors then name `to`, not `to[0]`.
        public var isList: Bool
    }

    /// 1 to 50 recipients for the To header.
    public var to: Recipients
    /// Recipients for the Cc header.
    public var cc: Recipients
    /// Recipients only in RCPT TO.
    public var bcc: Recipients
    /// Mailboxes for the Reply-To header.
    public var replyTo: Recipients
    /// The subject, at most 998 bytes.
    public var subject: String
    /// The plain-text body; this or `html` is required.
    public var text: String?
    /// The HTML body.
    public var html: String?
    /// Files, their content base64-encoded.
    public var attachments: [AttachmentInput]
    /// `X-` headers, sorted by name (a JSON object has no order).
    public var headers: [(name: String, value: String)]
    /// A caller's own Message-ID; normally left out and generated.
    public var messageId: String?

    /// Every field the body may have. `sendNow`, `metadata` and `idempotencyKey` belong to the
    /// function around the message and are accepted here only so they are not unknown.
    public static let fields = ["to", "cc", "bcc", "replyTo", "subject", "text", "html", "attachments", "headers",
                                "messageId", "metadata", "sendNow", "idempotencyKey"]

    enum CodingKeys: String, CodingKey {
        case to, cc, bcc, replyTo, subject, text, html, attachments, headers, messageId
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(decoder, known: Self.fields)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        to = try Self.recipients(c, .to, required: true)
        cc = try Self.recipients(c, .cc, required: false)
        bcc = try Self.recipients(c, .bcc, required: false)
        replyTo = try Self.recipients(c, .replyTo, required: false)
        subject = try c.decode(String.self, forKey: .subject)
        text = try c.decodeIfPresent(String.self, forKey: .text)
        html = try c.decodeIfPresent(String.self, forKey: .html)
        attachments = try c.decodeIfPresent([AttachmentInput].self, forKey: .attachments) ?? []
        headers = (try c.decodeIfPresent([String: String].self, forKey: .headers) ?? [:])
            .map { (name: $0.key, value: $0.value) }.sorted { $0.name < $1.name }
        messageId = try c.decodeIfPresent(String.self, forKey: .messageId)
    }

    /// A single recipient or a list of them.
    static func recipients(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, required: Bool) throws -> Recipients {
        if !required, try !c.contains(key) || c.decodeNil(forKey: key) { return Recipients(items: [], isList: true) }
        if let list = try? c.decode([Recipient].self, forKey: key) { return Recipients(items: list, isList: true) }
        if let one = try? c.decode(Recipient.self, forKey: key) { return Recipients(items: [one], isList: false) }
        // Decode again to surface the precise error (an element's path, a missing key).
        if (try? c.nestedUnkeyedContainer(forKey: key)) != nil { _ = try c.decode([Recipient].self, forKey: key) }
        _ = try c.decode(Recipient.self, forKey: key)
        return Recipients(items: [], isList: false)
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Refuses a field the type does not know: a typo such as `atachments` must not be dropped.
func rejectUnknownKeys(_ decoder: any Decoder, known: [String]) throws {
    guard let all = try? decoder.container(keyedBy: AnyKey.self) else { return }
    if let unknown = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [AnyKey(stringValue: unknown)],
                                                debugDescription: "unknown field; expected one of \(known.joined(separator: ", "))"))
    }
}
