/// A standard five-field cron schedule: minute, hour, day of month, month, day of week.
///
/// Supports lists, ranges, steps (`*/5`, `1-30/7`, `10/15`), month and day names
/// (`JAN`–`DEC`, `SUN`–`SAT`, any case), 0 or 7 for Sunday, and the macros `@yearly`,
/// `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`.
///
/// `@reboot` is rejected (`CronError.Code.unsupportedMacro`): a scheduler that is itself
/// restarted would fire it on every restart, which is not what the line promises.
///
/// Day matching follows Vixie cron: when both day-of-month and day-of-week are restricted
/// (neither field starts with `*`), a day matches if either one does; otherwise both must.
public struct CronSchedule: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The allowed minutes, 0–59.
    public let minutes: CronField
    /// The allowed hours, 0–23.
    public let hours: CronField
    /// The allowed days of the month, 1–31.
    public let daysOfMonth: CronField
    /// The allowed months, 1–12.
    public let months: CronField
    /// The allowed days of the week, 0–6 with 0 = Sunday.
    public let daysOfWeek: CronField
    /// The text the schedule was parsed from, trimmed (a macro stays a macro).
    public let text: String

    /// The macros and the five fields each stands for.
    public static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    /// Parses five whitespace-separated fields or one macro.
    /// Throws `CronError` naming the field and the offending text.
    public init(parsing text: String) throws(CronError) {
        let trimmed = text.trimmingWhitespace()
        self.text = trimmed
        var source = Substring(trimmed)
        if trimmed.hasPrefix("@") {
            let macro = trimmed.lowercased()
            if macro == "@reboot" {
                throw CronError(.unsupportedMacro,
                                "@reboot is not supported: a scheduler restart would fire it again; use a systemd unit or the system cron")
            }
            guard let expansion = Self.macros[macro] else {
                throw CronError(.unknownMacro, "unknown macro \"\(trimmed)\" (known: @yearly @annually @monthly @weekly @daily @midnight @hourly)")
            }
            source = Substring(expansion)
        }
        let fields = source.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count == 5 else {
            throw CronError(.fieldCount, "a schedule needs 5 fields (minute hour day-of-month month day-of-week), got \(fields.count) in \"\(trimmed)\"")
        }
        minutes = try CronField(parsing: fields[0], as: .minute)
        hours = try CronField(parsing: fields[1], as: .hour)
        daysOfMonth = try CronField(parsing: fields[2], as: .dayOfMonth)
        months = try CronField(parsing: fields[3], as: .month)
        daysOfWeek = try CronField(parsing: fields[4], as: .dayOfWeek)
    }

    /// The text the schedule was parsed from.
    public var description: String { text }

    /// Two schedules are equal when they fire at the same times: `@daily` equals `0 0 * * *`.
    public static func == (a: CronSchedule, b: CronSchedule) -> Bool {
        a.minutes == b.minutes && a.hours == b.hours && a.daysOfMonth == b.daysOfMonth
            && a.months == b.months && a.daysOfWeek == b.daysOfWeek
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(minutes)
        hasher.combine(hours)
        hasher.combine(daysOfMonth)
        hasher.combine(months)
        hasher.combine(daysOfWeek)
    }

    /// True when a day with this day of month and day of week (0 = Sunday) is allowed,
    /// under Vixie cron's OR rule for two restricted day fields.
    func dayMatches(dayOfMonth: Int, dayOfWeek: Int) -> Bool {
        let dom = daysOfMonth.contains(dayOfMonth)
        let dow = daysOfWeek.contains(dayOfWeek)
        if daysOfMonth.isStar || daysOfWeek.isStar { return dom && dow }
        return dom || dow
    }
}

extension String {
    /// Trims spaces, tabs and line ends without Foundation.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
