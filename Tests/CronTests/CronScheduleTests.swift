import Cron
import Foundation
import Testing

/// Parses `2025-01-01T00:00:00Z`-style UTC times for the tables.
func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime]
    guard let date = formatter.date(from: text) else { fatalError("bad test date \(text)") }
    return date
}

struct CronScheduleTests {
    struct NextCase: CustomTestStringConvertible, Sendable {
        var schedule: String
        var after: String
        var expected: String?
        var timeZone = "UTC"
        var testDescription: String { "\(schedule) after \(after) -> \(expected ?? "never")" }
    }

    static let nextCases: [NextCase] = [
        // Every 5 minutes: seconds are dropped, and the result is strictly after.
        NextCase(schedule: "*/5 * * * *", after: "2025-01-01T00:00:00Z", expected: "2025-01-01T00:05:00Z"),
        NextCase(schedule: "*/5 * * * *", after: "2025-01-01T00:03:27Z", expected: "2025-01-01T00:05:00Z"),
        NextCase(schedule: "*/5 * * * *", after: "2025-01-01T00:04:59.900Z", expected: "2025-01-01T00:05:00Z"),
        NextCase(schedule: "*/5 * * * *", after: "2025-01-01T00:05:30Z", expected: "2025-01-01T00:10:00Z"),
        NextCase(schedule: "* * * * *", after: "2025-01-01T00:00:00Z", expected: "2025-01-01T00:01:00Z"),
        // Hourly at :07.
        NextCase(schedule: "7 * * * *", after: "2025-01-01T00:06:00Z", expected: "2025-01-01T00:07:00Z"),
        NextCase(schedule: "7 * * * *", after: "2025-01-01T00:07:00Z", expected: "2025-01-01T01:07:00Z"),
        NextCase(schedule: "7 * * * *", after: "2025-12-31T23:59:00Z", expected: "2026-01-01T00:07:00Z"),
        // Weekdays 9-17 (2025-01-03 is a Friday).
        NextCase(schedule: "0 9-17 * * 1-5", after: "2025-01-03T16:00:00Z", expected: "2025-01-03T17:00:00Z"),
        NextCase(schedule: "0 9-17 * * 1-5", after: "2025-01-03T17:30:00Z", expected: "2025-01-06T09:00:00Z"),
        NextCase(schedule: "0 9-17 * * MON-FRI", after: "2025-01-06T09:00:00Z", expected: "2025-01-06T10:00:00Z"),
        // Both day fields restricted: the 1st, the 15th, OR any Monday (2025-01-01 is a Wednesday).
        NextCase(schedule: "0 0 1,15 * 1", after: "2025-01-01T00:00:00Z", expected: "2025-01-06T00:00:00Z"),
        NextCase(schedule: "0 0 1,15 * 1", after: "2025-01-13T00:00:00Z", expected: "2025-01-15T00:00:00Z"),
        NextCase(schedule: "0 0 1,15 * 1", after: "2025-01-27T00:00:00Z", expected: "2025-02-01T00:00:00Z"),
        // A day field starting with * keeps AND: odd days that are Mondays.
        NextCase(schedule: "0 0 */2 * 1", after: "2025-01-01T00:00:00Z", expected: "2025-01-13T00:00:00Z"),
        // Steps over ranges, and start/step.
        NextCase(schedule: "0-30/10 * * * *", after: "2025-01-01T10:05:00Z", expected: "2025-01-01T10:10:00Z"),
        NextCase(schedule: "0-30/10 * * * *", after: "2025-01-01T10:20:00Z", expected: "2025-01-01T10:30:00Z"),
        NextCase(schedule: "0-30/10 * * * *", after: "2025-01-01T10:31:00Z", expected: "2025-01-01T11:00:00Z"),
        NextCase(schedule: "1-30/7 * * * *", after: "2025-01-01T10:22:00Z", expected: "2025-01-01T10:29:00Z"),
        NextCase(schedule: "1-30/7 * * * *", after: "2025-01-01T10:29:00Z", expected: "2025-01-01T11:01:00Z"),
        NextCase(schedule: "10/15 * * * *", after: "2025-01-01T10:00:00Z", expected: "2025-01-01T10:10:00Z"),
        NextCase(schedule: "10/15 * * * *", after: "2025-01-01T10:55:00Z", expected: "2025-01-01T11:10:00Z"),
        // Every 15 minutes across an hour, a day and a year boundary.
        NextCase(schedule: "*/15 * * * *", after: "2025-01-01T10:50:00Z", expected: "2025-01-01T11:00:00Z"),
        NextCase(schedule: "*/15 * * * *", after: "2025-12-31T23:45:00Z", expected: "2026-01-01T00:00:00Z"),
        // Month ends: the 31st exists only in long months.
        NextCase(schedule: "0 0 31 * *", after: "2025-02-01T00:00:00Z", expected: "2025-03-31T00:00:00Z"),
        NextCase(schedule: "0 0 31 * *", after: "2025-04-01T00:00:00Z", expected: "2025-05-31T00:00:00Z"),
        NextCase(schedule: "0 0 31 * *", after: "2025-07-31T00:00:00Z", expected: "2025-08-31T00:00:00Z"),
        NextCase(schedule: "0 0 30 * *", after: "2025-01-30T00:00:00Z", expected: "2025-03-30T00:00:00Z"),
        // Leap days.
        NextCase(schedule: "0 0 29 2 *", after: "2025-01-01T00:00:00Z", expected: "2028-02-29T00:00:00Z"),
        NextCase(schedule: "0 0 29 2 *", after: "2024-02-29T00:00:00Z", expected: "2028-02-29T00:00:00Z"),
        NextCase(schedule: "0 0 29 2 *", after: "2097-01-01T00:00:00Z", expected: "2104-02-29T00:00:00Z"),
        // Names, any case.
        NextCase(schedule: "0 12 * JAN-MAR MON,FRI", after: "2025-03-28T12:00:00Z", expected: "2025-03-31T12:00:00Z"),
        NextCase(schedule: "0 12 * JAN-MAR MON,FRI", after: "2025-03-31T12:00:00Z", expected: "2026-01-02T12:00:00Z"),
        NextCase(schedule: "0 12 * jan-Mar mon,fri", after: "2025-03-31T12:00:00Z", expected: "2026-01-02T12:00:00Z"),
        NextCase(schedule: "0 0 1 dec *", after: "2025-01-01T00:00:00Z", expected: "2025-12-01T00:00:00Z"),
        // Sunday as 0, as 7, as a name, and 7 closing a range.
        NextCase(schedule: "0 0 * * 0", after: "2025-01-01T00:00:00Z", expected: "2025-01-05T00:00:00Z"),
        NextCase(schedule: "0 0 * * 7", after: "2025-01-01T00:00:00Z", expected: "2025-01-05T00:00:00Z"),
        NextCase(schedule: "0 0 * * sun", after: "2025-01-01T00:00:00Z", expected: "2025-01-05T00:00:00Z"),
        NextCase(schedule: "0 0 * * 6-7", after: "2025-01-04T00:00:00Z", expected: "2025-01-05T00:00:00Z"),
        NextCase(schedule: "0 0 * * 6-7", after: "2025-01-05T00:00:00Z", expected: "2025-01-11T00:00:00Z"),
        // Macros.
        NextCase(schedule: "@hourly", after: "2025-01-01T10:00:00Z", expected: "2025-01-01T11:00:00Z"),
        NextCase(schedule: "@daily", after: "2025-01-01T10:00:00Z", expected: "2025-01-02T00:00:00Z"),
        NextCase(schedule: "@midnight", after: "2025-01-01T10:00:00Z", expected: "2025-01-02T00:00:00Z"),
        NextCase(schedule: "@weekly", after: "2025-01-01T10:00:00Z", expected: "2025-01-05T00:00:00Z"),
        NextCase(schedule: "@monthly", after: "2025-01-15T10:00:00Z", expected: "2025-02-01T00:00:00Z"),
        NextCase(schedule: "@yearly", after: "2025-01-01T00:00:00Z", expected: "2026-01-01T00:00:00Z"),
        NextCase(schedule: "@ANNUALLY", after: "2025-06-01T00:00:00Z", expected: "2026-01-01T00:00:00Z"),
        // Never: February 30th, the 31st of short months.
        NextCase(schedule: "0 0 30 2 *", after: "2025-01-01T00:00:00Z", expected: nil),
        NextCase(schedule: "0 0 31 4,6,9,11 *", after: "2025-01-01T00:00:00Z", expected: nil),
        // Local time zones: 09:00 in New York is 14:00 UTC in winter and 13:00 in summer.
        NextCase(schedule: "0 9 * * *", after: "2025-01-01T00:00:00Z", expected: "2025-01-01T14:00:00Z", timeZone: "America/New_York"),
        NextCase(schedule: "0 9 * * *", after: "2025-07-01T00:00:00Z", expected: "2025-07-01T13:00:00Z", timeZone: "America/New_York"),
        // 02:30 does not exist on 2025-03-09 in New York: that day is skipped.
        NextCase(schedule: "30 2 * * *", after: "2025-03-08T08:00:00Z", expected: "2025-03-10T06:30:00Z", timeZone: "America/New_York"),
        // 01:00-01:59 repeats on 2025-11-02 in New York: elapsed-time schedules fire in both
        // passes, a fixed hour fires once.
        NextCase(schedule: "*/30 * * * *", after: "2025-11-02T05:30:00Z", expected: "2025-11-02T06:00:00Z", timeZone: "America/New_York"),
        NextCase(schedule: "30 1 * * *", after: "2025-11-02T05:30:00Z", expected: "2025-11-03T06:30:00Z", timeZone: "America/New_York"),
        NextCase(schedule: "30 * * * *", after: "2025-01-01T00:00:00Z", expected: "2025-01-01T01:00:00Z", timeZone: "Asia/Kolkata"),
        NextCase(schedule: "0 * * * *", after: "2025-01-01T00:00:00Z", expected: "2025-01-01T00:30:00Z", timeZone: "Asia/Kolkata"),
    ]

    @Test(arguments: nextCases)
    func nextFireTime(_ c: NextCase) throws {
        let schedule = try CronSchedule(parsing: c.schedule)
        let zone = try #require(TimeZone(identifier: c.timeZone))
        let next = schedule.next(after: utc(c.after), timeZone: zone)
        #expect(next == c.expected.map(utc))
        if let next {
            #expect(schedule.matches(next, timeZone: zone))
        }
    }

    struct InvalidCase: CustomTestStringConvertible, Sendable {
        var text: String
        var code: CronError.Code
        var field: String?
        /// Text the message must quote.
        var quoted: String
        var testDescription: String { "\"\(text)\" -> \(code)" }
    }

    static let invalidCases: [InvalidCase] = [
        InvalidCase(text: "* * * *", code: .fieldCount, field: nil, quoted: "* * * *"),
        InvalidCase(text: "* * * * * *", code: .fieldCount, field: nil, quoted: "* * * * * *"),
        InvalidCase(text: "", code: .fieldCount, field: nil, quoted: "got 0"),
        InvalidCase(text: "60 * * * *", code: .outOfRange, field: "minute", quoted: "60"),
        InvalidCase(text: "* 24 * * *", code: .outOfRange, field: "hour", quoted: "24"),
        InvalidCase(text: "* * 0 * *", code: .outOfRange, field: "day-of-month", quoted: "0"),
        InvalidCase(text: "* * 32 * *", code: .outOfRange, field: "day-of-month", quoted: "32"),
        InvalidCase(text: "* * * 13 *", code: .outOfRange, field: "month", quoted: "13"),
        InvalidCase(text: "* * * 0 *", code: .outOfRange, field: "month", quoted: "0"),
        InvalidCase(text: "* * * * 8", code: .outOfRange, field: "day-of-week", quoted: "8"),
        InvalidCase(text: "*/0 * * * *", code: .invalidStep, field: "minute", quoted: "*/0"),
        InvalidCase(text: "* */x * * *", code: .invalidStep, field: "hour", quoted: "*/x"),
        InvalidCase(text: "* * 1-5/ * *", code: .invalidStep, field: "day-of-month", quoted: "1-5/"),
        InvalidCase(text: "5-2 * * * *", code: .invalidRange, field: "minute", quoted: "5-2"),
        InvalidCase(text: "* * * DEC-JAN *", code: .invalidRange, field: "month", quoted: "DEC-JAN"),
        InvalidCase(text: "* * * FOO *", code: .invalidValue, field: "month", quoted: "FOO"),
        InvalidCase(text: "* * * * MON-", code: .invalidValue, field: "day-of-week", quoted: "MON-"),
        InvalidCase(text: "* * * * funday", code: .invalidValue, field: "day-of-week", quoted: "funday"),
        InvalidCase(text: "* * * * JAN", code: .invalidValue, field: "day-of-week", quoted: "JAN"),
        InvalidCase(text: "* * * MON *", code: .invalidValue, field: "month", quoted: "MON"),
        InvalidCase(text: "1,,2 * * * *", code: .invalidValue, field: "minute", quoted: "1,,2"),
        InvalidCase(text: "+5 * * * *", code: .invalidValue, field: "minute", quoted: "+5"),
        InvalidCase(text: "a * * * *", code: .invalidValue, field: "minute", quoted: "a"),
        InvalidCase(text: "@fortnightly", code: .unknownMacro, field: nil, quoted: "@fortnightly"),
        InvalidCase(text: "@reboot", code: .unsupportedMacro, field: nil, quoted: "@reboot"),
    ]

    @Test(arguments: invalidCases)
    func invalidSchedulesNameTheField(_ c: InvalidCase) {
        #expect {
            _ = try CronSchedule(parsing: c.text)
        } throws: { error in
            guard let error = error as? CronError else { return false }
            let namesField = c.field.map { error.message.hasPrefix("\($0):") } ?? true
            return error.code == c.code && error.field == c.field && namesField && error.message.contains(c.quoted)
        }
    }

    @Test func fieldsExposeTheirValues() throws {
        let s = try CronSchedule(parsing: "0-30/10 9,17 */10 JAN-MAR 5-7")
        #expect(s.minutes.values == [0, 10, 20, 30])
        #expect(s.hours.values == [9, 17])
        #expect(s.daysOfMonth.values == [1, 11, 21, 31])
        #expect(s.daysOfMonth.isStar)
        #expect(s.months.values == [1, 2, 3])
        #expect(s.daysOfWeek.values == [0, 5, 6])
        #expect(!s.daysOfWeek.isStar)
        #expect(try CronSchedule(parsing: "@daily") == CronSchedule(parsing: "@daily"))
        #expect(try CronSchedule(parsing: "  0 0 * * *\t").description == "0 0 * * *")
    }

    struct MatchCase: Sendable {
        var schedule: String
        var date: String
        var matches: Bool
    }

    static let matchCases: [MatchCase] = [
        MatchCase(schedule: "*/5 * * * *", date: "2025-01-01T00:05:42Z", matches: true),
        MatchCase(schedule: "*/5 * * * *", date: "2025-01-01T00:06:00Z", matches: false),
        MatchCase(schedule: "0 0 1,15 * 1", date: "2025-01-06T00:00:00Z", matches: true),   // Monday
        MatchCase(schedule: "0 0 1,15 * 1", date: "2025-01-15T00:00:00Z", matches: true),   // the 15th
        MatchCase(schedule: "0 0 1,15 * 1", date: "2025-01-07T00:00:00Z", matches: false),
        MatchCase(schedule: "0 0 1,15 * *", date: "2025-01-06T00:00:00Z", matches: false),
        MatchCase(schedule: "0 0 * * 1", date: "2025-01-15T00:00:00Z", matches: false),
        MatchCase(schedule: "0 12 * JAN-MAR MON,FRI", date: "2025-04-04T12:00:00Z", matches: false),
        MatchCase(schedule: "0 12 * JAN-MAR MON,FRI", date: "2025-02-07T12:00:00Z", matches: true),
    ]

    @Test(arguments: matchCases.indices)
    func matching(_ index: Int) throws {
        let c = Self.matchCases[index]
        #expect(try CronSchedule(parsing: c.schedule).matches(utc(c.date)) == c.matches, "\(c.schedule) at \(c.date)")
    }

    /// `next` skips ahead by months, days and hours; minute-by-minute scanning must agree with it.
    @Test(arguments: ["*/7 3-5 * * *", "0 0 1,15 * 1", "15 10 */3 * MON", "0-30/10 23 28-31 * *", "59 23 * * 6,0", "0 0 29 2 *"])
    func nextAgreesWithAMinuteByMinuteScan(_ text: String) throws {
        let schedule = try CronSchedule(parsing: text)
        var previous = utc("2024-02-20T07:13:00Z")
        for _ in 0..<8 {
            guard let next = schedule.next(after: previous) else {
                Issue.record("\(text) never fired after \(previous)")
                return
            }
            #expect(schedule.matches(next))
            // Scan at most three days of the gap: enough to catch a skipped match, cheap enough to run.
            var t = previous + 60
            while t < next && t < previous + 3 * 86_400 {
                #expect(!schedule.matches(t), "\(text): \(t) matches but next(after: \(previous)) gave \(next)")
                t += 60
            }
            previous = next
        }
    }
}
