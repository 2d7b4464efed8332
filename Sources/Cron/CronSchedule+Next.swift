import Foundation

extension CronSchedule {
    /// How many years `next(after:)` searches before deciding the schedule never fires. Eight
    /// covers the longest gap between two February 29ths (2096 to 2104).
    public static let searchYears = 8

    /// The first whole minute strictly after `date` that the schedule matches in `timeZone`,
    /// or nil when none comes within `searchYears` (`0 0 30 2 *` never fires).
    ///
    /// Skips whole months, days and hours that cannot match, so sparse schedules (February 29)
    /// cost a few hundred steps, not millions of minutes.
    ///
    /// Daylight saving: a local time that the clock skips does not fire that day. In a repeated
    /// hour, schedules with a `*`-like hour field fire in both passes (they follow elapsed time),
    /// others fire once.
    public func next(after date: Date, timeZone: TimeZone = .gmt) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let everyHour = hours.bits == (1 << 24) - 1
        var t = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        let lastYear = calendar.component(.year, from: date) + Self.searchYears

        // Moves to `candidate`, or one minute on if a time-zone quirk would not move forward.
        func advance(to candidate: Date?) {
            if let candidate, candidate > t { t = candidate } else { t += 60 }
        }
        func civil(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0) -> Date? {
            calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: 0))
        }

        while true {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: t)
            guard let year = c.year, let month = c.month, let day = c.day, let hour = c.hour,
                  let minute = c.minute, let weekday = c.weekday else { return nil }
            guard year <= lastYear else { return nil }

            guard months.contains(month) else {
                if let m = months.next(atLeast: month + 1) {
                    advance(to: civil(year, m, 1))
                } else if let m = months.next(atLeast: 1) {
                    advance(to: civil(year + 1, m, 1))
                } else {
                    return nil
                }
                continue
            }
            guard dayMatches(dayOfMonth: day, dayOfWeek: weekday - 1) else {
                advance(to: calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: t)))
                continue
            }
            guard hours.contains(hour) else {
                if let h = hours.next(atLeast: hour + 1) {
                    advance(to: civil(year, month, day, h))
                } else {
                    advance(to: calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: t)))
                }
                continue
            }
            guard let m = minutes.next(atLeast: minute) else {
                // Past this hour's last allowed minute.
                if everyHour {
                    advance(to: t + Double(60 - minute) * 60)
                } else if let h = hours.next(atLeast: hour + 1) {
                    advance(to: civil(year, month, day, h))
                } else {
                    advance(to: calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: t)))
                }
                continue
            }
            if m == minute { return t }
            // Re-checked by the loop: a daylight-saving change may fall in between.
            advance(to: t + Double(m - minute) * 60)
        }
    }

    /// True when the minute containing `date` matches the schedule in `timeZone` (seconds are ignored).
    public func matches(_ date: Date, timeZone: TimeZone = .gmt) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.month, .day, .hour, .minute, .weekday], from: date)
        guard let month = c.month, let day = c.day, let hour = c.hour, let minute = c.minute, let weekday = c.weekday else {
            return false
        }
        return months.contains(month) && dayMatches(dayOfMonth: day, dayOfWeek: weekday - 1)
            && hours.contains(hour) && minutes.contains(minute)
    }
}
