import FoundationEssentials

extension Date: PostgresEncodable, PostgresDecodable {
    /// timestamptz input: ISO 8601 in UTC with microseconds, e.g. `2026-11-22T17:44:18.123456+00:00`.
    public var postgresText: String { PostgresTimestamp.format(self) }

    /// Parses the server's ISO output (`2026-11-22 17:44:18.123456+00`), with or without a
    /// fraction, any UTC offset, `BC`, a bare date, and `infinity` / `-infinity`
    /// (as `distantFuture` / `distantPast`).
    public init(postgresText: String) throws {
        self = try PostgresTimestamp.parse(postgresText)
    }
}

/// Hand-written conversion: DateFormatter is slow, locale-sensitive and tops out at
/// milliseconds, while timestamptz carries microseconds.
enum PostgresTimestamp {
    static let microsPerSecond: Int64 = 1_000_000
    /// Seconds from 1970-01-01 to Foundation's reference date 2001-01-01.
    static let referenceOffsetMicros: Int64 = 978_307_200 * 1_000_000

    static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSinceReferenceDate
        if interval.isNaN { return "infinity" }  // no sensible instant; keep it parseable
        // Beyond ±290,000 years Int64 microseconds overflow; Postgres can't store those anyway.
        guard abs(interval) < 9.0e12 else { return interval < 0 ? "-infinity" : "infinity" }
        let micros = Int64((interval * 1_000_000).rounded()) + referenceOffsetMicros
        let (seconds, fraction) = floorDivide(micros, microsPerSecond)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civil(fromDays: days)
        let bc = year <= 0
        var text = ""
        text.reserveCapacity(40)
        append(bc ? 1 - year : year, width: 4, to: &text)
        text += "-"
        append(month, width: 2, to: &text)
        text += "-"
        append(day, width: 2, to: &text)
        text += "T"
        append(secondOfDay / 3600, width: 2, to: &text)
        text += ":"
        append(secondOfDay / 60 % 60, width: 2, to: &text)
        text += ":"
        append(secondOfDay % 60, width: 2, to: &text)
        text += "."
        append(fraction, width: 6, to: &text)
        text += "+00:00"
        if bc { text += " BC" }
        return text
    }

    static func parse(_ text: String) throws -> Date {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var scanner = Scanner(bytes: Array(text.utf8))
        func fail() -> PostgresError { decodingError(text, as: Date.self) }

        guard var year = scanner.number(maxDigits: 9), scanner.skip("-"),
            let month = scanner.number(exactDigits: 2), scanner.skip("-"),
            let day = scanner.number(exactDigits: 2),
            (1...12).contains(month), (1...31).contains(day)
        else { throw fail() }

        var secondOfDay: Int64 = 0
        var fraction: Int64 = 0
        var offsetSeconds: Int64 = 0
        if scanner.skip(" ") || scanner.skip("T") {
            // " BC" after a bare date also starts with a space.
            if scanner.peek == UInt8(ascii: "B") {
                scanner.position -= 1
            } else {
                guard let hour = scanner.number(exactDigits: 2), scanner.skip(":"),
                    let minute = scanner.number(exactDigits: 2), scanner.skip(":"),
                    let second = scanner.number(exactDigits: 2),
                    hour <= 24, minute < 60, second <= 60
                else { throw fail() }
                secondOfDay = hour * 3600 + minute * 60 + second
                if scanner.skip(".") {
                    var digits = 0
                    while let digit = scanner.digit() {
                        // Keep microseconds; anything finer cannot come from Postgres anyway.
                        if digits < 6 { fraction = fraction * 10 + digit }
                        digits += 1
                    }
                    guard digits > 0 else { throw fail() }
                    if digits < 6 { for _ in digits..<6 { fraction *= 10 } }
                }
                if scanner.skip("Z") {
                    offsetSeconds = 0
                } else if let sign = scanner.sign() {
                    guard let hours = scanner.number(exactDigits: 2) else { throw fail() }
                    var offset = hours * 3600
                    if scanner.skip(":") || scanner.peekIsDigit {
                        guard let minutes = scanner.number(exactDigits: 2) else { throw fail() }
                        offset += minutes * 60
                        if scanner.skip(":") || scanner.peekIsDigit {
                            guard let seconds = scanner.number(exactDigits: 2) else { throw fail() }
                            offset += seconds
                        }
                    }
                    offsetSeconds = sign * offset
                }
            }
        }
        if scanner.skip(" BC") { year = 1 - year }
        guard scanner.atEnd else { throw fail() }

        let days = days(fromCivil: year, month, day)
        let micros = ((days * 86_400 + secondOfDay - offsetSeconds) * microsPerSecond) + fraction
        return Date(timeIntervalSinceReferenceDate: Double(micros - referenceOffsetMicros) / 1_000_000)
    }

    // MARK: Calendar arithmetic (proleptic Gregorian, days relative to 1970-01-01)

    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        // Count years from March so the leap day is the last day of the year.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var quotient = a / b
        var remainder = a % b
        if remainder < 0 {
            quotient -= 1
            remainder += b
        }
        return (quotient, remainder)
    }

    private static func append(_ value: Int64, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
        text += digits
    }

    /// A cursor over ASCII bytes; tiny on purpose, the formats are rigid.
    struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position == bytes.count }
        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }
        var peekIsDigit: Bool { peek.map { $0 >= 48 && $0 <= 57 } ?? false }

        mutating func skip(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard position + count <= bytes.count else { return false }
            let matches = literal.withUTF8Buffer { expected in
                expected.elementsEqual(bytes[position..<position + count])
            }
            if matches { position += count }
            return matches
        }

        mutating func digit() -> Int64? {
            guard peekIsDigit, let byte = peek else { return nil }
            position += 1
            return Int64(byte - 48)
        }

        mutating func number(exactDigits: Int) -> Int64? {
            let start = position
            var value: Int64 = 0
            for _ in 0..<exactDigits {
                guard let d = digit() else {
                    position = start
                    return nil
                }
                value = value * 10 + d
            }
            return value
        }

        mutating func number(maxDigits: Int) -> Int64? {
            var value: Int64 = 0
            var count = 0
            while count < maxDigits, let d = digit() {
                value = value * 10 + d
                count += 1
            }
            return count > 0 ? value : nil
        }

        mutating func sign() -> Int64? {
            if skip("+") { return 1 }
            if skip("-") { return -1 }
            return nil
        }
    }
}
