import FoundationEssentials
import Glibc

/// RFC 3339 timestamps as the API reads and writes them.
///
/// Postgres (with DateStyle ISO) writes `2026-11-22 17:44:18.123456+00`; clients send
/// `2026-11-22T17:44:18Z` or with a fraction or an offset. Both parse here.
public enum Timestamp {
    /// Formats as `2026-11-22T17:44:18.123Z` (UTC, milliseconds).
    public static func format(_ date: Date) -> String {
        // Round to the millisecond first, so 05.678 stored as 05.67799… prints as 05.678.
        let totalMs = (date.timeIntervalSince1970 * 1000).rounded()
        let wholeSeconds = (totalMs / 1000).rounded(.down)
        var t = time_t(wholeSeconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = Int(totalMs - wholeSeconds * 1000)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ms), 3))Z"
    }

    /// Days in a month of the proleptic Gregorian calendar.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Parses an RFC 3339 timestamp; nil when the text is not one or names no real instant.
    public static func parse(_ text: String) -> Date? {
        let u = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= u.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = u[i + k]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < u.count, u[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2) else { return nil }
        guard i < u.count, u[i] == 84 || u[i] == 116 || u[i] == 32 else { return nil }
        i += 1
        guard let hour = digits(2), expect(58), let minute = digits(2), expect(58), let second = digits(2) else { return nil }
        // A date that does not exist (2026-02-31) is refused, never rolled into the next month.
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second < 61 else { return nil }
        var fraction = 0.0
        if i < u.count, u[i] == 46 {
            i += 1
            var scale = 0.1
            let start = i
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                fraction += Double(u[i] - 48) * scale
                scale /= 10
                i += 1
            }
            if i == start { return nil }
        }
        var offset = 0
        if i < u.count, u[i] == 90 || u[i] == 122 {
            i += 1
        } else if i < u.count, u[i] == 43 || u[i] == 45 {
            let sign = u[i] == 45 ? -1 : 1
            i += 1
            guard let oh = digits(2) else { return nil }
            var om = 0
            if i < u.count, u[i] == 58 { i += 1 }
            if i < u.count { guard let m = digits(2) else { return nil }; om = m }
            guard oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == u.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        return Date(timeIntervalSince1970: Double(seconds - offset) + fraction)
    }
}
