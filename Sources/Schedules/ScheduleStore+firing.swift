import Foundation
import JobQueue
import Postgres

/// What one firing pass did.
public struct FiringSummary: Sendable, Equatable {
    /// Jobs enqueued for slots (a slot another driver already enqueued counts as fired once).
    public var fired = 0
    /// Schedules that had slots pass while no driver ran: each fired once now, and says so here.
    public var late: [String] = []
    /// Schedules whose job no longer checks out (its kind left the manifest): the slot was skipped.
    public var skipped: [String] = []
}

extension ScheduleStore {
    /// Turns every slot due by `now + horizon` into its job, at most `limit` schedules a pass.
    ///
    /// A slot's job has the idempotency key `schedule:NAME:LOCAL-TIME`, so however many drivers
    /// on however many hosts fire at once, a slot makes one job; rows are taken FOR UPDATE SKIP
    /// LOCKED, so they do not even wait for each other. The job is enqueued ahead of its time
    /// (`run_at` is the slot, plus jitter) and runs when it is due, like any delayed job.
    ///
    /// A slot more than `lateness` seconds past (no driver ran: a host was down) fires once now,
    /// keyed by the latest slot that passed; the others are counted in `missed` and reported in
    /// the summary, not fired one after another.
    ///
    /// `now` defaults to the database's clock, which every host shares (a host whose own clock
    /// runs fast must not call on-time slots late); `bind` finishes a job as the enqueue function
    /// would (a tenant target's own limit and flow key), and may refuse it.
    public func fireDue(kinds: JobKinds, now given: Date? = nil, horizon: Double = 120, lateness: Double = 60, limit: Int = 100,
                        bind: ((inout NewJob, Int64) throws -> Void)? = nil) throws -> FiringSummary {
        var summary = FiringSummary()
        try connection.transaction { connection in
            let now = try given ?? connection.query("SELECT now() AS now")[0].decode("now", as: Date.self)
            let due = try connection.query("""
                SELECT \(Self.columns), next_name FROM conveyor_schedules
                WHERE NOT paused AND next_at IS NOT NULL AND next_at <= \(now.addingTimeInterval(horizon))::timestamptz
                ORDER BY next_at LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
                """)
            let jobs = PostgresJobStore(connection: connection)
            for row in due {
                let schedule = try Self.schedule(row)
                guard let slotAt = schedule.nextAt else { continue }
                guard let clock = try? Self.clock(cron: schedule.cron, timeZone: schedule.timeZone) else {
                    // Stored by a build that read it differently: stop it rather than let it hold
                    // a place at the front of every pass.
                    try connection.execute("UPDATE conveyor_schedules SET next_at = NULL WHERE org_id = \(schedule.orgId) AND name = \(schedule.name)")
                    summary.skipped.append("schedule \(schedule.name) of org \(schedule.orgId): '\(schedule.cron)' in \(schedule.timeZone) no longer reads; stopped")
                    continue
                }
                var slotName = try row.decodeIfPresent("next_name", as: String.self) ?? clock.name(of: slotAt)
                var runAt = slotAt
                var missed = 0
                var following: ScheduleClock.Slot?
                if slotAt < now.addingTimeInterval(-lateness) {
                    // Away: the slots up to now collapse into one firing now.
                    let passed = clock.slots(after: slotAt, through: now)
                    missed = passed.count
                    if let last = passed.last { slotName = last.name }
                    runAt = now
                    following = clock.next(after: now, previous: slotName)
                    summary.late.append("schedule \(schedule.name) of org \(schedule.orgId): \(missed + 1) slots passed since \(Timestamp.format(slotAt)) while no driver ran; fired once now, \(missed) skipped")
                } else {
                    following = clock.next(after: slotAt, previous: slotName)
                }
                if schedule.jitterSeconds > 0 { runAt += Double(Int.random(in: 0...schedule.jitterSeconds)) }

                var jobId: Int64?
                do {
                    // The template is checked as an enqueue's; the slot's time and key are ours.
                    var job = try JobRequest(json: schedule.job, field: "job").validated(kinds: kinds, field: "job")
                    job.runAt = runAt
                    job.delaySeconds = nil
                    job.idempotencyKey = "schedule:\(schedule.name):\(slotName)"
                    try bind?(&job, schedule.orgId)
                    let enqueued = try jobs.enqueue([job], orgId: schedule.orgId)[0]
                    jobId = enqueued.id
                    summary.fired += 1
                } catch let error as JobQueueError {
                    summary.skipped.append("schedule \(schedule.name) of org \(schedule.orgId): slot \(slotName) skipped: \(error.message)")
                } catch let error as PostgresError {
                    throw error
                } catch {
                    summary.skipped.append("schedule \(schedule.name) of org \(schedule.orgId): slot \(slotName) skipped: \(error)")
                }
                try connection.execute("""
                    UPDATE conveyor_schedules
                    SET next_at = \(following?.at)::timestamptz, next_name = \(following?.name), missed = missed + \(missed),
                        last_fired_at = CASE WHEN \(jobId)::bigint IS NULL THEN last_fired_at ELSE \(now)::timestamptz END,
                        last_job_id = coalesce(\(jobId)::bigint, last_job_id)
                    WHERE org_id = \(schedule.orgId) AND name = \(schedule.name)
                    """)
            }
        }
        return summary
    }
}
