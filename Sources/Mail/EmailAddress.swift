/// An RFC 5321/5322 addr-spec in the subset Conveyor sends to: a dot-atom local part and a
/// domain of host-name labels or an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
///
/// Quoted local parts (`"john doe"@example.com`), comments and non-ASCII addresses (SMTPUTF8)
/// are refused rather than half-supported: each would need escaping rules at every layer.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    /// Everything before the @, as given (its case matters to the receiving server only).
    public let localPart: String
    /// A host name or an address literal in brackets.
    public let domain: String

    /// The longest forward-path SMTP allows (RFC 5321 4.5.3.1.3 less the angle brackets).
    public static let maxLength = 254
    static let maxLocalPart = 64
    static let atextSpecials = Set("!#$%&'*+-/=?^_`{|}~".utf8)

    /// Parses and validates `text`, which must be a bare addr-spec (no display name, no `<>`).
    public init(parsing text: String) throws(InputProblem) {
        try HeaderSafety.check(text)
        guard !text.isEmpty else { throw InputProblem("is empty; expected an address such as name@example.com") }
        guard text.utf8.allSatisfy({ $0 < 0x80 }) else {
            throw InputProblem("must be ASCII: internationalised addresses (SMTPUTF8) are not supported")
        }
        guard text.utf8.count <= Self.maxLength else { throw InputProblem("is longer than \(Self.maxLength) characters") }
        guard let at = text.lastIndex(of: "@") else { throw InputProblem("is not an email address: no @") }
        let local = String(text[..<at])
        let domain = String(text[text.index(after: at)...])
        if local.hasPrefix("\"") { throw InputProblem("quoted local parts are not supported") }
        try Self.checkLocalPart(local)
        try Self.checkDomain(domain)
        self.localPart = local
        self.domain = domain
    }

    public var description: String { "\(localPart)@\(domain)" }

    /// The address with its domain lowercased: two recipients with equal keys are one mailbox.
    /// The local part keeps its case, which only the receiving server may interpret.
    var deduplicationKey: String { "\(localPart)@\(domain.lowercased())" }

    static func isAtext(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
            || atextSpecials.contains(byte)
    }

    /// dot-atom-text: atext runs joined by single dots.
    static func isDotAtomText(_ text: Substring) -> Bool {
        !text.isEmpty && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { atom in
            !atom.isEmpty && atom.utf8.allSatisfy(isAtext)
        }
    }

    static func checkLocalPart(_ local: String) throws(InputProblem) {
        guard !local.isEmpty else { throw InputProblem("has nothing before the @") }
        guard local.utf8.count <= maxLocalPart else { throw InputProblem("has a local part longer than \(maxLocalPart) characters") }
        guard !local.contains("@") else { throw InputProblem("has more than one @") }
        guard isDotAtomText(local[...]) else {
            throw InputProblem("has an invalid local part: use letters, digits and !#$%&'*+-/=?^_`{|}~ with single dots between them")
        }
    }

    static func checkDomain(_ domain: String) throws(InputProblem) {
        guard !domain.isEmpty else { throw InputProblem("has nothing after the @") }
        if domain.hasPrefix("[") {
            guard domain.hasSuffix("]"), domain.count > 2 else { throw InputProblem("has an unterminated address literal") }
            let inner = domain.dropFirst().dropLast()
            if inner.lowercased().hasPrefix("ipv6:") {
                guard isIPv6(inner.dropFirst(5)) else { throw InputProblem("has an invalid IPv6 address literal") }
            } else {
                guard isIPv4(inner) else { throw InputProblem("has an invalid address literal; use [192.0.2.1] or [IPv6:2001:db8::1]") }
            }
            return
        }
        try checkHostName(domain)
    }

    /// A DNS name of at least two LDH labels whose last label is not all digits (so a bare IPv4
    /// address is not mistaken for a domain).
    static func checkHostName(_ domain: String) throws(InputProblem) {
        guard domain.utf8.count <= 253 else { throw InputProblem("has a domain longer than 253 characters") }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { throw InputProblem("needs a fully qualified domain such as example.com") }
        for label in labels {
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count),
                  bytes.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "-") }),
                  bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-")
            else {
                throw InputProblem("has an invalid domain: labels are 1-63 letters, digits or inner hyphens, separated by single dots")
            }
        }
        if labels.last!.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            throw InputProblem("has a numeric top-level domain; write an IP address as [192.0.2.1]")
        }
    }

    static func isAlphanumeric(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
    }

    static func isIPv4(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            (1...3).contains(p.count) && p.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
                && !(p.count > 1 && p.hasPrefix("0")) && Int(p)! <= 255
        }
    }

    /// RFC 5321's IPv6-addr: eight hex groups, one `::` for a run of zeros, optionally ending in
    /// an IPv4 address that stands for two groups.
    static func isIPv6(_ text: Substring) -> Bool {
        var body = String(text)
        var groupsNeeded = 8
        if let lastColon = body.lastIndex(of: ":"), body[body.index(after: lastColon)...].contains(".") {
            guard isIPv4(body[body.index(after: lastColon)...]) else { return false }
            body = String(body[...lastColon]) + "0"
            groupsNeeded = 7
        }
        func hexGroups(_ s: Substring) -> Int? {
            if s.isEmpty { return 0 }
            let groups = s.split(separator: ":", omittingEmptySubsequences: false)
            guard groups.allSatisfy({ (1...4).contains($0.count) && $0.allSatisfy(\.isHexDigit) }) else { return nil }
            return groups.count
        }
        let halves = body.splitting(on: "::")
        switch halves.count {
        case 1:
            return hexGroups(body[...]) == groupsNeeded
        case 2:
            guard let a = hexGroups(halves[0][...]), let b = hexGroups(halves[1][...]) else { return false }
            return a + b < groupsNeeded
        default:
            return false
        }
    }
}

extension String {
    /// The pieces between occurrences of `separator`, without Foundation's ICU-backed version.
    func splitting(on separator: String) -> [String] {
        var parts: [String] = []
        var rest = self[...]
        while let hit = rest.firstRange(of: separator) {
            parts.append(String(rest[..<hit.lowerBound]))
            rest = rest[hit.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
