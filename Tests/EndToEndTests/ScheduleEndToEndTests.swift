import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// A schedule stored through nginx runs on its slot with nothing but `cron-driver watch` calling
/// process-batch: no crontab line, no client. It waits for the next whole minute.
struct ScheduleEndToEndTests {
    @Test func cronDriverWatchAloneRunsAStoredScheduleOnItsSlot() throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        // The tenant (and the queue the watcher serves) before the stack: migrate first.
        try ConveyorSchema.migrate(Connection(url: url))
        let tenant = try Tenant(databaseURL: url)
        let stack = try Stack(Stack.Options(workers: 2, watch: true, watchQueues: [tenant.queue]))
        let web = try Web(stack.baseURL)
        let put = try web.call("PUT", "/v1/schedules/every-minute",
                               body: #"{"cron":"* * * * *","timeZone":"America/New_York","job":{"kind":"sleep","queue":"\#(tenant.queue)","payload":{"ms":0}}}"#,
                               key: tenant.key)
        #expect(put.status == 201, "\(put.text)")
        let slot = try #require(put.json["nextRunAt"]?.stringValue.flatMap(Timestamp.parse))
        let db = try Connection(url: stack.databaseURL)
        let until = slot.addingTimeInterval(60)
        var rows: QueryResult?
        while Date() < until {
            rows = try db.query("""
                SELECT id, run_at, idempotency_key FROM conveyor_jobs
                WHERE queue = \(tenant.queue) AND state = 'completed' ORDER BY run_at
                """)
            if rows?.isEmpty == false { break }
            usleep(200_000)
        }
        let first = try #require(rows?.first, "no scheduled job ran by \(until)\n\(stack.log("cron-driver.log").suffix(2000))")
        // The slot's job, keyed by the slot's local time, run no earlier than the slot.
        #expect(try first.decode("run_at", as: Date.self) == slot)
        var local = Calendar(identifier: .gregorian)
        local.timeZone = TimeZone(identifier: "America/New_York")!
        let c = local.dateComponents([.year, .month, .day, .hour, .minute], from: slot)
        #expect(try first.decode("idempotency_key", as: String.self)
                == String(format: "schedule:every-minute:%04d-%02d-%02dT%02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!))
        let schedule = try web.call("GET", "/v1/schedules/every-minute", key: tenant.key).json
        // The slots within the next two minutes are enqueued ahead too: the last job is this one or later.
        #expect((schedule["lastJobId"]?.intValue ?? 0) >= (try first.decode("id", as: Int64.self)))
        #expect(schedule["missedSlots"] == 0)
        // One job per slot, whatever the drivers' calls.
        let perSlot = try db.query("""
            SELECT idempotency_key, count(*)::int AS n FROM conveyor_jobs WHERE queue = \(tenant.queue) GROUP BY idempotency_key HAVING count(*) > 1
            """)
        #expect(perSlot.isEmpty)
    }
}
