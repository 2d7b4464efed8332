import Cron
import Foundation
import Testing

struct CronSlotTests {
    @Test(arguments: [
        (1_795_465_200.0, "2026-11-23T20:20Z"),
        (1_795_465_259.999, "2026-11-23T20:20Z"),
        (1_795_465_260.0, "2026-11-23T20:21Z"),
        (0.0, "1970-01-01T00:00Z"),
        (951_782_400.0, "2000-02-29T00:00Z"),
    ])
    func formatsTheMinuteInUTC(seconds: Double, slot: String) {
        #expect(CronSlot.format(Date(timeIntervalSince1970: seconds)) == slot)
        #expect(CronSlot.parse(slot) == CronScheduler.minuteStart(Date(timeIntervalSince1970: seconds)))
    }

    @Test(arguments: ["2026-11-22T20:35", "2026-11-22 20:35Z", "2026-13-01T00:00Z", "2026-02-30T00:00Z", "x"])
    func rejectsMalformedSlots(text: String) {
        #expect(CronSlot.parse(text) == nil)
    }

    @Test func expandsEveryPlaceholder() {
        let minute = Date(timeIntervalSince1970: 1_795_465_200)
        #expect(CronSlot.expand(#"{"idempotencyKey":"report-{slot}","payload":{"for":"{slot}"}}"#, minute: minute)
                == #"{"idempotencyKey":"report-2026-11-23T20:20Z","payload":{"for":"2026-11-23T20:20Z"}}"#)
        #expect(CronSlot.expand("{}", minute: minute) == "{}")
    }

    /// A periodic enqueue line stays an in-process call: `{slot}` inside quotes is not shell syntax.
    @Test func aSlottedBodyIsStillAnInProcessCall() {
        let line = #"cron-driver once enqueue '{"kind":"noop","idempotencyKey":"tick-{slot}"}'"#
        #expect(CronCommand(line) == .callFunction(name: "enqueue", body: #"{"kind":"noop","idempotencyKey":"tick-{slot}"}"#))
    }
}
