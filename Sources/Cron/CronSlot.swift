import Foundation

/// The `{slot}` placeholder of periodic jobs: in a crontab entry's body it becomes the minute
/// the entry was scheduled for, in ISO 8601 UTC (`2026-11-22T20:35Z`).
///
/// Put it in an enqueue's `idempotencyKey` (`"daily-report-{slot}"`) and every driver that
/// fires the same entry for the same minute sends the same key, so the database keeps one job:
/// two cron drivers, or one firing retried, never double-fire.
public enum CronSlot {
    /// The placeholder text.
    public static let placeholder = "{slot}"

    /// The minute containing `date`, as `yyyy-MM-ddTHH:mmZ` in UTC.
    public static func format(_ date: Date) -> String {
        let minute = CronScheduler.minuteStart(date)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: minute)
        func two(_ n: Int?) -> String { let v = n ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        let year = String(c.year ?? 0)
        return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute))Z"
    }

    /// Parses a slot written by `format` (for `--fire-minute`); nil when malformed.
    public static func parse(_ text: String) -> Date? {
        let parts = text.split(whereSeparator: { "-T:Z".contains($0) }).map { Int($0) }
        guard text.count == 17, text.hasSuffix("Z"), parts.count == 5, parts.allSatisfy({ $0 != nil }) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let components = DateComponents(year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4])
        guard let date = calendar.date(from: components), format(date) == text else { return nil }
        return date
    }

    /// `body` with every `{slot}` replaced by the slot of `minute`.
    public static func expand(_ body: String, minute: Date) -> String {
        body.contains(placeholder) ? body.replacingOccurrences(of: placeholder, with: format(minute)) : body
    }
}
