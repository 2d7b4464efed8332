/// An address with an optional display name: `Ada Lovelace <ada@example.com>`.
public struct Mailbox: Sendable, Hashable, CustomStringConvertible {
    /// The display name, any Unicode text without control characters; nil or empty for none.
    public var name: String?
    /// The addr-spec.
    public var address: EmailAddress

    /// The longest display name accepted, in UTF-8 bytes.
    public static let maxNameBytes = 256

    /// A mailbox from parts; the name is validated.
    public init(name: String?, address: EmailAddress) throws(InputProblem) {
        if let name { try Self.checkName(name) }
        self.name = (name?.isEmpty ?? true) ? nil : name
        self.address = address
    }

    /// Parses `ada@example.com`, `Ada Lovelace <ada@example.com>` or `"Lovelace, Ada" <ada@example.com>`.
    ///
    /// An unquoted name may hold anything but `<`, `>` and `"`; a quoted one anything but `"` and
    /// `\`. Control characters, CR, LF and NUL are refused everywhere.
    public init(parsing text: String) throws(InputProblem) {
        try HeaderSafety.check(text)
        let trimmed = Self.trimmed(text[...])
        guard trimmed.hasSuffix(">") else {
            try self.init(name: nil, address: EmailAddress(parsing: String(trimmed)))
            return
        }
        guard let open = trimmed.lastIndex(of: "<") else { throw InputProblem("has a > without a matching <") }
        let address = try EmailAddress(parsing: String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]))
        var name = Self.trimmed(trimmed[..<open])
        if name.hasPrefix("\"") {
            guard name.count >= 2, name.hasSuffix("\"") else { throw InputProblem("has an unterminated quoted name") }
            name = name.dropFirst().dropLast()
            guard !name.contains("\""), !name.contains("\\") else {
                throw InputProblem("has a quoted name with \" or \\ inside; send it as {\"name\", \"email\"} instead")
            }
        } else if name.contains(where: { $0 == "<" || $0 == ">" || $0 == "\"" }) {
            throw InputProblem("has <, > or \" in its name; quote the name or send {\"name\", \"email\"}")
        }
        try self.init(name: String(name), address: address)
    }

    public var description: String {
        guard let name else { return address.description }
        return "\(name) <\(address)>"
    }

    static func checkName(_ name: String) throws(InputProblem) {
        try HeaderSafety.check(name)
        guard name.utf8.count <= maxNameBytes else { throw InputProblem("has a name longer than \(maxNameBytes) bytes") }
    }

    static func trimmed(_ text: Substring) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return text[first...last]
    }
}
