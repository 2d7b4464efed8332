/// An attachment's content type, `type/subtype` with optional `; name=value` parameters, in
/// RFC 2045 syntax. Composite types (multipart, message) are refused: an attachment is sent as
/// base64, which RFC 2045 forbids for them.
public struct MediaType: Sendable, Equatable, CustomStringConvertible {
    /// The top-level type, lowercased: `application`.
    public let type: String
    /// The subtype, lowercased: `pdf`.
    public let subtype: String
    /// Parameters in the order given, names lowercased.
    public let parameters: [(name: String, value: String)]

    public static func == (a: MediaType, b: MediaType) -> Bool {
        a.type == b.type && a.subtype == b.subtype && a.parameters.elementsEqual(b.parameters) { $0 == $1 }
    }

    static let tokenSpecials = Set("!#$%&'*+-.^_`|~".utf8)
    /// Parameters Conveyor sets itself.
    static let reservedParameters: Set<String> = ["name", "boundary"]

    /// Parses `text/csv; charset=utf-8`; type and subtype are lowercased.
    public init(parsing text: String) throws(InputProblem) {
        try HeaderSafety.check(text)
        guard text.utf8.count <= 255 else { throw InputProblem("is longer than 255 characters") }
        var pieces = text.split(separator: ";", omittingEmptySubsequences: false).map { Mailbox.trimmed($0) }
        let essence = pieces.removeFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard essence.count == 2, Self.isToken(essence[0]), Self.isToken(essence[1]) else {
            throw InputProblem("must be a media type such as application/pdf")
        }
        type = essence[0].lowercased()
        subtype = essence[1].lowercased()
        guard type != "multipart", type != "message" else {
            throw InputProblem("must not be multipart/* or message/*: attachments are sent as base64")
        }
        var parameters: [(name: String, value: String)] = []
        for piece in pieces {
            guard let equals = piece.firstIndex(of: "=") else { throw InputProblem("has a parameter without =") }
            let name = piece[..<equals].lowercased()
            var value = piece[piece.index(after: equals)...]
            guard Self.isToken(name[...]) else { throw InputProblem("has an invalid parameter name") }
            guard !Self.reservedParameters.contains(name) else { throw InputProblem("must not set \(name)=; Conveyor sets it") }
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\"") else { throw InputProblem("has an unterminated quoted parameter") }
                value = value.dropFirst().dropLast()
                guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) else {
                    throw InputProblem("has a quoted parameter with \", \\ or non-ASCII characters")
                }
            } else {
                guard Self.isToken(value) else { throw InputProblem("has a parameter value that must be a token or quoted") }
            }
            parameters.append((name, String(value)))
        }
        self.parameters = parameters
    }

    /// The header form: `text/csv; charset="utf-8"` (values always quoted: valid either way).
    public var description: String {
        var out = "\(type)/\(subtype)"
        for p in parameters { out += "; \(p.name)=\"\(p.value)\"" }
        return out
    }

    static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || tokenSpecials.contains(b)
        }
    }
}

/// A file attached to a message.
public struct Attachment: Sendable, Equatable {
    /// The name shown to the recipient: any Unicode text without control characters.
    public var filename: String
    /// The media type sent in Content-Type.
    public var contentType: MediaType
    /// The file's bytes, sent as base64.
    public var content: [UInt8]

    /// The longest filename, in UTF-8 bytes.
    public static let maxFilenameBytes = 255

    /// An attachment; the filename is validated.
    public init(filename: String, contentType: MediaType, content: [UInt8]) throws(InputProblem) {
        try HeaderSafety.check(filename)
        guard !filename.isEmpty else { throw InputProblem("is empty") }
        guard filename.utf8.count <= Self.maxFilenameBytes else { throw InputProblem("is longer than \(Self.maxFilenameBytes) bytes") }
        self.filename = filename
        self.contentType = contentType
        self.content = content
    }
}
