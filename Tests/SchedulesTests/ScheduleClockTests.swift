import Cron
import Foundation
import Schedules
import Testing

/// Slots around daylight-saving changes: a local time the clock skips is no slot, a local time
/// that happens twice is one slot, fired at its first occurrence.
struct ScheduleClockTests {
    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    static func slots(_ cron: String, _ zone: String, from: String, to: String) throws -> [String] {
        let clock = ScheduleClock(cron: try CronSchedule(parsing: cron), timeZone: TimeZone(identifier: zone)!)
        let formatter = ISO8601DateFormatter()
        return clock.slots(after: date(from), through: date(to)).map { "\($0.name) \(formatter.string(from: $0.at))" }
    }

    @Test(arguments: [
        // Berlin springs forward on 29 March 2026: 02:00 CET becomes 03:00 CEST.
        ("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z",
         ["2026-03-28T02:30 2026-03-28T01:30:00Z", "2026-03-30T02:30 2026-03-30T00:30:00Z"]),
        ("*/30 * * * *", "Europe/Berlin", "2026-03-28T23:59:00Z", "2026-03-29T02:00:00Z",
         ["2026-03-29T01:00 2026-03-29T00:00:00Z", "2026-03-29T01:30 2026-03-29T00:30:00Z",
          "2026-03-29T03:00 2026-03-29T01:00:00Z", "2026-03-29T03:30 2026-03-29T01:30:00Z", "2026-03-29T04:00 2026-03-29T02:00:00Z"]),
        // Berlin falls back on 25 October 2026: 03:00 CEST becomes 02:00 CET, 02:xx happens twice.
        ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z",
         ["2026-10-25T02:30 2026-10-25T00:30:00Z", "2026-10-26T02:30 2026-10-26T01:30:00Z"]),
        ("0,30 * * * *", "Europe/Berlin", "2026-10-24T23:59:00Z", "2026-10-25T03:00:00Z",
         ["2026-10-25T02:00 2026-10-25T00:00:00Z", "2026-10-25T02:30 2026-10-25T00:30:00Z",
          "2026-10-25T03:00 2026-10-25T02:00:00Z", "2026-10-25T03:30 2026-10-25T02:30:00Z", "2026-10-25T04:00 2026-10-25T03:00:00Z"]),
        // New York springs forward on 8 March 2026 (02:00 EST becomes 03:00 EDT) and falls back on
        // 1 November 2026 (02:00 EDT becomes 01:00 EST).
        ("0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z",
         ["2026-03-09T02:00 2026-03-09T06:00:00Z"]),
        ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z",
         ["2026-11-01T01:30 2026-11-01T05:30:00Z", "2026-11-02T01:30 2026-11-02T06:30:00Z"]),
        ("*/20 * * * *", "America/New_York", "2026-11-01T04:50:00Z", "2026-11-01T07:10:00Z",
         ["2026-11-01T01:00 2026-11-01T05:00:00Z", "2026-11-01T01:20 2026-11-01T05:20:00Z", "2026-11-01T01:40 2026-11-01T05:40:00Z",
          "2026-11-01T02:00 2026-11-01T07:00:00Z"]),
        // No change: UTC every 15 minutes.
        ("*/15 * * * *", "UTC", "2026-06-01T00:00:00Z", "2026-06-01T00:45:00Z",
         ["2026-06-01T00:15 2026-06-01T00:15:00Z", "2026-06-01T00:30 2026-06-01T00:30:00Z", "2026-06-01T00:45 2026-06-01T00:45:00Z"]),
    ] as [(String, String, String, String, [String])])
    func slotsAroundDaylightSaving(cron: String, zone: String, from: String, to: String, expected: [String]) throws {
        #expect(try Self.slots(cron, zone, from: from, to: to) == expected)
    }

    /// After a slot, the next one is never the same local time again, even in a repeated hour.
    @Test func theSecondPassOfARepeatedHourIsNotASlot() throws {
        let clock = ScheduleClock(cron: try CronSchedule(parsing: "30 1 * * *"), timeZone: TimeZone(identifier: "America/New_York")!)
        let first = try #require(clock.next(after: Self.date("2026-11-01T00:00:00Z")))
        #expect(first.name == "2026-11-01T01:30")
        let next = try #require(clock.next(after: first.at, previous: first.name))
        #expect(next.name == "2026-11-02T01:30")
    }
}
