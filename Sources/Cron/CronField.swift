/// One of a schedule's five fields, parsed into the set of values it allows.
///
/// Values are kept as bits of a `UInt64` (every field fits in 0...60), which makes matching a
/// shift and a mask, and finding the next allowed value a count of trailing zeros.
public struct CronField: Sendable, Equatable, Hashable {
    /// Which of the five fields this is, with its bounds and names.
    public enum Kind: Int, Sendable, CaseIterable {
        case minute, hour, dayOfMonth, month, dayOfWeek

        /// The name used in error messages.
        public var name: String {
            switch self {
            case .minute: "minute"
            case .hour: "hour"
            case .dayOfMonth: "day-of-month"
            case .month: "month"
            case .dayOfWeek: "day-of-week"
            }
        }

        /// The smallest and largest value accepted when parsing (day-of-week accepts 7 for Sunday).
        var bounds: ClosedRange<Int> {
            switch self {
            case .minute: 0...59
            case .hour: 0...23
            case .dayOfMonth: 1...31
            case .month: 1...12
            case .dayOfWeek: 0...7
            }
        }

        /// Three-letter names, case-insensitive, mapped to their values.
        var names: [String: Int] {
            switch self {
            case .month:
                ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
                 "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12]
            case .dayOfWeek:
                ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]
            default:
                [:]
            }
        }
    }

    /// Which field this is.
    public let kind: Kind
    /// Bit `n` is set when value `n` is allowed. Day-of-week 7 is stored as 0.
    public let bits: UInt64
    /// True when the field's text starts with `*` (`*`, `*/5`): the day fields then combine with
    /// AND instead of OR, as in Vixie cron.
    public let isStar: Bool

    /// True when `value` is allowed.
    public func contains(_ value: Int) -> Bool {
        value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0
    }

    /// The allowed values in increasing order.
    public var values: [Int] {
        (0..<64).filter(contains)
    }

    /// The smallest allowed value that is at least `value`, or nil.
    func next(atLeast value: Int) -> Int? {
        guard value < 64 else { return nil }
        let masked = bits & (~0 << UInt64(max(0, value)))
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }

    /// Parses a field's text: a comma-separated list of `*`, `N`, `N-M`, each optionally with
    /// `/STEP`; `N/STEP` means `N-max/STEP`. Months and days of the week also take names.
    public init(parsing text: Substring, as kind: Kind) throws(CronError) {
        self.kind = kind
        isStar = text.hasPrefix("*")
        var bits: UInt64 = 0
        for element in text.split(separator: ",", omittingEmptySubsequences: false) {
            bits |= try Self.parseElement(element, kind: kind, fieldText: text)
        }
        if kind == .dayOfWeek, bits & (1 << 7) != 0 {
            bits = (bits & ~(1 << 7)) | 1  // 7 is Sunday too
        }
        self.bits = bits
    }

    private static func parseElement(_ element: Substring, kind: Kind, fieldText: Substring) throws(CronError) -> UInt64 {
        func fail(_ code: CronError.Code, _ why: String) -> CronError {
            CronError(code, "\(kind.name): \(why) in \"\(fieldText)\"", field: kind.name)
        }
        guard !element.isEmpty else { throw fail(.invalidValue, "empty list element") }

        let parts = element.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let rangeText = parts[0]
        var step = 1
        if parts.count == 2 {
            guard let s = number(parts[1]), s > 0 else {
                throw fail(.invalidStep, "step \"\(parts[1])\" must be a positive number")
            }
            step = s
        }

        let low: Int, high: Int
        if rangeText == "*" {
            (low, high) = (kind.bounds.lowerBound, kind.bounds.upperBound)
        } else if let dash = rangeText.firstIndex(of: "-") {
            low = try value(rangeText[..<dash], kind: kind, fail: fail)
            high = try value(rangeText[rangeText.index(after: dash)...], kind: kind, fail: fail)
            guard low <= high else { throw fail(.invalidRange, "range \"\(rangeText)\" runs backwards") }
        } else {
            low = try value(rangeText, kind: kind, fail: fail)
            // `10/15` means 10-59/15, as in Vixie cron and cronie.
            high = parts.count == 2 ? kind.bounds.upperBound : low
        }
        if kind == .dayOfWeek, rangeText == "*" {
            // 7 would only repeat Sunday; leaving it out keeps `*/2` at Sun, Tue, Thu, Sat.
            return bitsFor(low...6, step: step)
        }
        return bitsFor(low...high, step: step)
    }

    private static func value(_ text: Substring, kind: Kind, fail: (CronError.Code, String) -> CronError) throws(CronError) -> Int {
        if let n = number(text) {
            guard kind.bounds.contains(n) else {
                throw fail(.outOfRange, "\(n) is out of range \(kind.bounds.lowerBound)-\(kind.bounds.upperBound)")
            }
            return n
        }
        if let n = kind.names[text.lowercased()] { return n }
        if text.isEmpty { throw fail(.invalidValue, "a range is missing a bound") }
        throw fail(.invalidValue, "\"\(text)\" is not a valid value")
    }

    /// Plain decimal digits only: `Int("+5")` would accept a sign cron does not.
    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 4, text.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return Int(text)
    }

    private static func bitsFor(_ range: ClosedRange<Int>, step: Int) -> UInt64 {
        var bits: UInt64 = 0
        for v in stride(from: range.lowerBound, through: range.upperBound, by: step) { bits |= 1 << UInt64(v) }
        return bits
    }
}
