/// A Message-ID (RFC 5322 3.6.4): `<left@right>` with dot-atom-text on both sides, or an
/// address literal on the right.
public struct MessageID: Sendable, Hashable, CustomStringConvertible {
    /// The id with its angle brackets, as the header carries it.
    public let value: String

    /// A new id: 128 random bits in hex, at the sender's domain, so ids from different
    /// installations cannot collide and the domain says who sent it.
    public static func generate(domain: String) -> MessageID {
        var rng = SystemRandomNumberGenerator()
        let hex = (0..<2).map { _ in
            let s = String(rng.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
        return MessageID(unchecked: "<\(hex)@\(domain)>")
    }

    private init(unchecked value: String) { self.value = value }

    /// Validates a caller's id, with or without the angle brackets.
    public init(parsing text: String) throws(InputProblem) {
        try HeaderSafety.check(text)
        var inner = text[...]
        if inner.hasPrefix("<") && inner.hasSuffix(">") && inner.count >= 2 { inner = inner.dropFirst().dropLast() }
        guard inner.utf8.count <= 250, let at = inner.lastIndex(of: "@") else {
            throw InputProblem("must look like <unique-part@example.com>, at most 250 characters")
        }
        let left = inner[..<at], right = inner[inner.index(after: at)...]
        let literal = right.hasPrefix("[") && right.hasSuffix("]") && right.count > 2
            && right.dropFirst().dropLast().utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x5B && $0 != 0x5D && $0 != 0x5C }
        guard EmailAddress.isDotAtomText(left), EmailAddress.isDotAtomText(right) || literal else {
            throw InputProblem("must look like <unique-part@example.com>: dot-atoms on both sides of the @")
        }
        value = "<\(inner)>"
    }

    public var description: String { value }
}

/// The RFC 5322 date-time form, computed without a calendar library (dates are UTC).
enum RFC5322Date {
    static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sat, 22 Nov 2026 20:21:22 +0000` for seconds since 1970 (UTC).
    static func format(secondsSince1970: Double) -> String {
        let seconds = Int64(secondsSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(weekday), \(two(day)) \(months[Int(month) - 1]) \(year) "
            + "\(two(secondOfDay / 3600)):\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60)) +0000"
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
