import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// `/v1/schedules` through the router, and their firing by process-batch.
@Suite struct ScheduleFunctionTests {
    func body(_ cron: String = "0 9 * * 1-5", zone: String = "Europe/Berlin", queue: String, extra: String = "") -> String {
        #"{"cron":"\#(cron)","timeZone":"\#(zone)","job":{"kind":"noop","queue":"\#(queue)","payload":{"report":"daily"}}\#(extra)}"#
    }

    @Test func aScheduleIsCreatedReplacedReadPausedResumedAndDeleted() throws {
        let h = try Harness()
        let created = h.call("PUT", "/v1/schedules/daily-report", body: body(queue: h.queue))
        #expect(created.status == 201, "\(created.json)")
        #expect(created.response.header("Location") == "/v1/schedules/daily-report")
        #expect(created.json["cron"] == "0 9 * * 1-5")
        #expect(created.json["timeZone"] == "Europe/Berlin")
        #expect(created.json["job"]?["payload"]?["report"] == "daily")
        let next = try #require(created.json["nextRunAt"]?.stringValue.flatMap(Timestamp.parse))
        // 09:00 in Berlin on a weekday: 07:00 or 08:00 UTC.
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        #expect([7, 8].contains(utc.component(.hour, from: next)) && utc.component(.minute, from: next) == 0)
        #expect(next > Date())

        let replaced = h.call("PUT", "/v1/schedules/daily-report", body: body("*/10 * * * *", zone: "UTC", queue: h.queue))
        #expect(replaced.status == 200)
        #expect(replaced.json["cron"] == "*/10 * * * *")
        #expect(h.call("GET", "/v1/schedules/daily-report").json["timeZone"] == "UTC")
        let list = h.call("GET", "/v1/schedules")
        guard case .array(let items)? = list.json["schedules"] else { Issue.record("\(list.json)"); return }
        #expect(items.compactMap { $0["name"]?.stringValue } == ["daily-report"])

        let paused = h.call("POST", "/v1/schedules/daily-report/pause")
        #expect(paused.json["paused"] == true)
        #expect(paused.json["nextRunAt"] == .null)
        let resumed = h.call("POST", "/v1/schedules/daily-report/resume")
        #expect(resumed.json["paused"] == false)
        #expect(resumed.json["nextRunAt"]?.stringValue != nil)

        // Another org sees none of it.
        let other = try Harness()
        #expect(other.call("GET", "/v1/schedules/daily-report").status == 404)
        #expect(other.call("DELETE", "/v1/schedules/daily-report").status == 404)
        #expect(h.call("DELETE", "/v1/schedules/daily-report").json["deleted"] == true)
        #expect(h.call("GET", "/v1/schedules/daily-report").status == 404)
    }

    @Test(arguments: [
        (#"{"cron":"every day","job":{"kind":"noop"}}"#, "cron"),
        (#"{"cron":"0 0 31 2 *","job":{"kind":"noop"}}"#, "cron"),
        (#"{"cron":"0 9 * * *","timeZone":"Europe/Atlantis","job":{"kind":"noop"}}"#, "timeZone"),
        (#"{"cron":"0 9 * * *","job":{"kind":"resize-image"}}"#, "job.kind"),
        (#"{"cron":"0 9 * * *","job":{"kind":"send-email","queue":"default"}}"#, "job.queue"),
        (#"{"cron":"0 9 * * *","job":{"kind":"noop","idempotencyKey":"x"}}"#, "job.idempotencyKey"),
        (#"{"cron":"0 9 * * *","job":{"kind":"noop"},"jitterSeconds":-1}"#, "jitterSeconds"),
        (#"{"cron":"0 9 * * *","job":{"kind":"target:no-such-target"}}"#, "job.kind"),
    ] as [(String, String)])
    func aBadScheduleIs422NamingTheField(body: String, field: String) throws {
        let h = try Harness()
        let answer = h.call("PUT", "/v1/schedules/bad", body: body)
        #expect(answer.status == 422, "\(answer.json)")
        #expect(answer.json["error"]?["message"]?.stringValue?.hasPrefix(field + ":") == true, "\(answer.json)")
        #expect(h.call("GET", "/v1/schedules/bad").status == 404)
    }

    @Test func anOrgHasAtMostItsCap() throws {
        let h = try Harness(environment: ["CONVEYOR_SCHEDULES_PER_ORG": "2"])
        #expect(h.call("PUT", "/v1/schedules/a", body: body(queue: h.queue)).status == 201)
        #expect(h.call("PUT", "/v1/schedules/b", body: body(queue: h.queue)).status == 201)
        let third = h.call("PUT", "/v1/schedules/c", body: body(queue: h.queue))
        #expect(third.status == 409)
        #expect(third.json["error"]?["details"]?["limit"] == 2)
        #expect(h.call("PUT", "/v1/schedules/b", body: body("@hourly", queue: h.queue)).status == 200)
        #expect(h.call("PUT", "/v1/schedules/Bad Name", body: body(queue: h.queue)).status == 422)
    }

    /// process-batch turns the next slot into its job ahead of time, keyed by schedule and slot,
    /// and a second call makes no second job.
    @Test func processBatchEnqueuesTheNextSlotOnce() throws {
        let h = try Harness()
        let put = h.call("PUT", "/v1/schedules/every-minute", body: body("* * * * *", zone: "UTC", queue: h.queue))
        let next = try #require(put.json["nextRunAt"]?.stringValue.flatMap(Timestamp.parse))
        #expect(h.process(maxJobs: 1, maxSeconds: 1).status == 200)
        #expect(h.process(maxJobs: 1, maxSeconds: 1).status == 200)
        let rows = try h.db.query("""
            SELECT id, idempotency_key, run_at, payload->>'report' AS report FROM conveyor_jobs WHERE org_id = \(h.orgId) ORDER BY run_at
            """)
        let keys: [String] = try rows.map { try $0.decode("idempotency_key") }
        #expect(Set(keys).count == keys.count, "\(keys)")
        let first = try #require(rows.first)
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute], from: next)
        #expect(try first.decode("idempotency_key", as: String.self)
                == String(format: "schedule:every-minute:%04d-%02d-%02dT%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!))
        #expect(try first.decode("run_at", as: Date.self) == next)
        #expect(try first.decode("report", as: String.self) == "daily")
        let schedule = h.call("GET", "/v1/schedules/every-minute").json
        #expect(try schedule["lastJobId"]?.intValue != nil)
        #expect(try (schedule["nextRunAt"]?.stringValue.flatMap(Timestamp.parse) ?? .distantPast) > next)
    }
}
