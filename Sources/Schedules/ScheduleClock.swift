import Cron
import Foundation

/// When a schedule's slots fall: its cron expression read in its time zone, each slot named by
/// its local wall-clock time (`2026-11-01T01:30`), which is what makes a slot unique.
///
/// Daylight saving: a local time the clock skips (02:30 on the spring-forward night in Berlin)
/// is not a slot that day; a local time that happens twice (01:30 on the fall-back night in New
/// York) is one slot, fired at its first occurrence, because both occurrences have one name.
public struct ScheduleClock: Sendable {
    public let cron: CronSchedule
    public let timeZone: TimeZone

    public init(cron: CronSchedule, timeZone: TimeZone) {
        self.cron = cron
        self.timeZone = timeZone
    }

    /// A slot: the instant it fires and its local name.
    public struct Slot: Sendable, Equatable {
        public var at: Date
        public var name: String
    }

    /// The local name of an instant in the schedule's time zone, to the minute.
    public func name(of date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        func two(_ n: Int?) -> String { let v = n ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        return "\(c.year ?? 0)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute))"
    }

    /// The first slot strictly after `date` whose local time comes after `previous`'s: in a
    /// repeated hour the clock goes back, and its second pass only repeats slots already had.
    /// Nil when the schedule never fires again. (Names compare as times: they are ISO 8601.)
    public func next(after date: Date, previous: String? = nil) -> Slot? {
        var t = date
        // A fold is an hour almost everywhere (two in a few zones): a day of every-minute slots
        // bounds any of them.
        for _ in 0..<1441 {
            guard let at = cron.next(after: t, timeZone: timeZone) else { return nil }
            let slot = Slot(at: at, name: name(of: at))
            if previous.map({ slot.name > $0 }) ?? true { return slot }
            t = at
        }
        return nil
    }

    /// The slots from `start` (exclusive) to `end` (inclusive), at most `limit` of them.
    public func slots(after start: Date, through end: Date, limit: Int = 10_000) -> [Slot] {
        var out: [Slot] = []
        var previous: String?
        var t = start
        while out.count < limit, let slot = next(after: t, previous: previous), slot.at <= end {
            out.append(slot)
            previous = slot.name
            t = slot.at
        }
        return out
    }
}
