import FoundationEssentials

extension EmailMessage {
    /// The message as RFC 5322/MIME bytes with CRLF line endings, ready for DATA.
    ///
    /// text+html is multipart/alternative; attachments wrap the body in multipart/mixed. Text
    /// is quoted-printable and attachments base64, so no body line exceeds 76 characters and
    /// no header line 998. Bcc is not rendered.
    public func rendered() -> [UInt8] {
        var fields = [
            HeaderField("Date", RFC5322Date.format(secondsSince1970: date.timeIntervalSince1970)),
            HeaderField("From", words: EncodedWords.mailboxList([from])),
        ]
        if !to.isEmpty { fields.append(HeaderField("To", words: EncodedWords.mailboxList(to))) }
        if !cc.isEmpty { fields.append(HeaderField("Cc", words: EncodedWords.mailboxList(cc))) }
        if !replyTo.isEmpty { fields.append(HeaderField("Reply-To", words: EncodedWords.mailboxList(replyTo))) }
        fields.append(HeaderField("Subject", words: EncodedWords.unstructured(subject)))
        fields.append(HeaderField("Message-ID", messageID.value))
        fields.append(HeaderField("MIME-Version", "1.0"))
        for h in headers { fields.append(HeaderField(h.name, words: EncodedWords.unstructured(h.value))) }

        var out: [UInt8] = []
        out.reserveCapacity(attachments.reduce(0) { $0 + $1.content.count * 138 / 100 } + (text?.utf8.count ?? 0) * 2 + (html?.utf8.count ?? 0) * 2 + 4096)
        for field in fields { field.write(into: &out) }
        bodyPart().write(into: &out)
        return out
    }

    func bodyPart() -> MIMEPart {
        var alternatives: [MIMEPart] = []
        if let text { alternatives.append(.text(text, subtype: "plain")) }
        if let html { alternatives.append(.text(html, subtype: "html")) }
        let body = alternatives.count == 1 ? alternatives[0] : .multipart("alternative", alternatives)
        guard !attachments.isEmpty else { return body }
        return .multipart("mixed", [body] + attachments.map(MIMEPart.attachment))
    }
}

/// One MIME entity: its own header fields and body.
struct MIMEPart {
    var fields: [HeaderField]
    var body: Body

    enum Body {
        /// Encoded bytes ending in CRLF.
        case encoded([UInt8])
        case parts(boundary: String, [MIMEPart])
    }

    static func text(_ text: String, subtype: String) -> MIMEPart {
        var bytes: [UInt8] = []
        QuotedPrintable.encode(text, into: &bytes)
        return MIMEPart(fields: [
            HeaderField("Content-Type", words: ["text/\(subtype);", "charset=\"utf-8\""]),
            HeaderField("Content-Transfer-Encoding", "quoted-printable"),
        ], body: .encoded(bytes))
    }

    static func attachment(_ attachment: Attachment) -> MIMEPart {
        var bytes: [UInt8] = []
        Base64.encodeLines(attachment.content, into: &bytes)
        var type = [attachment.contentType.essence] + attachment.contentType.parameters.map { "\($0.name)=\"\($0.value)\"" }
        type += MIMEParameter.words("name", attachment.filename)
        for i in type.indices.dropLast() { type[i] += ";" }
        var disposition = ["attachment"] + MIMEParameter.words("filename", attachment.filename)
        for i in disposition.indices.dropLast() { disposition[i] += ";" }
        return MIMEPart(fields: [
            HeaderField("Content-Type", words: type),
            HeaderField("Content-Disposition", words: disposition),
            HeaderField("Content-Transfer-Encoding", "base64"),
        ], body: .encoded(bytes))
    }

    /// A multipart entity with a fresh boundary. The boundary starts with "=_", which neither
    /// quoted-printable (where "=" is followed by hex or a line break) nor base64 can produce,
    /// so no content line can be mistaken for a delimiter.
    static func multipart(_ subtype: String, _ parts: [MIMEPart]) -> MIMEPart {
        var rng = SystemRandomNumberGenerator()
        let random = (0..<2).map { _ in String(rng.next() as UInt64, radix: 36) }.joined(separator: ".")
        let boundary = "=_conveyor.\(random)"
        return MIMEPart(fields: [HeaderField("Content-Type", words: ["multipart/\(subtype);", "boundary=\"\(boundary)\""])],
                        body: .parts(boundary: boundary, parts))
    }

    /// Appends the fields, the blank line and the body. The CRLF before each delimiter belongs
    /// to the delimiter (RFC 2046 5.1.1), which is why encoded bodies end with one.
    func write(into out: inout [UInt8]) {
        for field in fields { field.write(into: &out) }
        out.append(contentsOf: [0x0D, 0x0A])
        switch body {
        case .encoded(let bytes):
            out.append(contentsOf: bytes)
        case .parts(let boundary, let parts):
            for part in parts {
                out.append(contentsOf: "--\(boundary)\r\n".utf8)
                part.write(into: &out)
            }
            out.append(contentsOf: "--\(boundary)--\r\n".utf8)
        }
    }
}

/// MIME parameters for file names: a quoted string when the name is short plain ASCII, else
/// RFC 2231 (`filename*=utf-8''…`, split into `filename*0*=…; filename*1*=…` sections so header
/// lines stay short).
enum MIMEParameter {
    static let attrChars = Set("!#$&+-.^_`|~".utf8)
    /// Percent-encoded characters per section: `filename*0*=utf-8''` plus 40 and a `;` stay
    /// well inside a 76-character line.
    static let sectionLength = 40

    static func words(_ name: String, _ value: String) -> [String] {
        let quoted = "\(name)=\"\(value)\""
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }), quoted.utf8.count <= 70 {
            return [quoted]
        }
        var sections: [String] = []
        var current = ""
        // Sections split between characters, never inside one's UTF-8 bytes.
        for scalar in value.unicodeScalars {
            var piece = ""
            for byte in String(scalar).utf8 {
                let isAttr = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39) || attrChars.contains(byte)
                piece += isAttr ? String(UnicodeScalar(byte)) : "%" + String(UnicodeScalar(QuotedPrintable.hex[Int(byte >> 4)])) + String(UnicodeScalar(QuotedPrintable.hex[Int(byte & 0x0F)]))
            }
            if current.utf8.count + piece.utf8.count > sectionLength {
                sections.append(current)
                current = ""
            }
            current += piece
        }
        sections.append(current)
        if sections.count == 1 { return ["\(name)*=utf-8''\(sections[0])"] }
        return sections.enumerated().map { i, s in i == 0 ? "\(name)*0*=utf-8''\(s)" : "\(name)*\(i)*=\(s)" }
    }
}

extension MediaType {
    /// `type/subtype` alone.
    var essence: String { "\(type)/\(subtype)" }
}
