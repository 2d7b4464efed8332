import FoundationEssentials
import JobQueue
import Schedules

/// A tenant's schedules: `PUT /v1/schedules/{name}` with a cron expression, an IANA time zone
/// and the job each slot enqueues; process-batch (called by `cron-driver watch` and `run`)
/// turns each slot into one job ahead of its time.
enum ScheduleFunctions {
    /// A schedule's name follows the rule of a target's (and a queue's).
    static func name(_ invocation: Invocation) throws -> String { try TargetFunctions.name(invocation) }

    static func store(_ context: FunctionContext) throws -> ScheduleStore {
        ScheduleStore(connection: try context.database())
    }

    static func fields(_ s: Schedule, to w: inout JSONWriter) {
        w.field("name", s.name)
        w.field("cron", s.cron)
        w.field("timeZone", s.timeZone)
        w.field("job", json: s.job)
        w.field("jitterSeconds", s.jitterSeconds)
        w.field("paused", s.paused)
        if let next = s.nextAt, !s.paused { w.field("nextRunAt", next) } else { w.field("nextRunAt", nil as String?) }
        if let last = s.lastFiredAt { w.field("lastFiredAt", last) }
        if let job = s.lastJobId { w.field("lastJobId", job) }
        w.field("missedSlots", s.missed)
        w.field("createdAt", s.createdAt)
        w.field("updatedAt", s.updatedAt)
    }

    static func write(_ s: Schedule) -> Data {
        var w = JSONWriter()
        w.beginObject()
        fields(s, to: &w)
        w.endObject()
        return w.data
    }

    static func notFound(_ name: String) -> APIError { APIError(.notFound, "no schedule named \(name)") }
}

/// `put-schedule`: creates (201) or replaces (200) the org's schedule NAME.
struct PutScheduleFunction: ConveyorFunction {
    let name = "put-schedule"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let name = try ScheduleFunctions.name(invocation)
        let spec = try ScheduleSpec(json: try BodyDecoder.parse(invocation.request), kinds: context.jobKinds)
        // A tenant target's job needs the target now, as an enqueue would.
        var template = [try JobRequest(json: spec.job, field: "job").validated(kinds: context.jobKinds, field: "job")]
        try TargetFunctions.bind(&template, org: org, context: context, field: { _ in "job.kind" })
        do {
            let (schedule, created) = try ScheduleFunctions.store(context).put(orgId: org, name: name, spec: spec, maxPerOrg: context.maxSchedulesPerOrg)
            let r = HTTPResponse.json(created ? 201 : 200, raw: ScheduleFunctions.write(schedule))
            return created ? r.located("v1", "schedules", name) : r
        } catch let tooMany as ScheduleStore.TooMany {
            throw APIError(.conflict, "this org has \(tooMany.limit) schedules, the most it may have; delete one first",
                           details: ["limit": .int(Int64(tooMany.limit))])
        }
    }
}

/// `list-schedules`: the org's schedules by name, with their next run.
struct ListSchedulesFunction: ConveyorFunction {
    let name = "list-schedules"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let schedules = try ScheduleFunctions.store(context).list(orgId: org, limit: context.maxSchedulesPerOrg)
        return .json(200, raw: JSONWriter.list("schedules", schedules, fields: ScheduleFunctions.fields))
    }
}

/// `get-schedule`: one of the org's schedules; another org's is a 404.
struct GetScheduleFunction: ConveyorFunction {
    let name = "get-schedule"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let name = try ScheduleFunctions.name(invocation)
        guard let schedule = try ScheduleFunctions.store(context).get(orgId: try invocation.caller.requireOrg(), name: name) else {
            throw ScheduleFunctions.notFound(name)
        }
        return .json(200, raw: ScheduleFunctions.write(schedule))
    }
}

/// `pause-schedule` and `resume-schedule`: a paused schedule fires nothing; resumed, it goes on
/// from its next slot after now (the slots it slept through are not fired).
struct PauseScheduleFunction: ConveyorFunction {
    let name: String
    let paused: Bool

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let name = try ScheduleFunctions.name(invocation)
        guard let schedule = try ScheduleFunctions.store(context).setPaused(orgId: try invocation.caller.requireOrg(), name: name, paused: paused) else {
            throw ScheduleFunctions.notFound(name)
        }
        return .json(200, raw: ScheduleFunctions.write(schedule))
    }
}

/// `delete-schedule`: removes it; a job it already enqueued stays.
struct DeleteScheduleFunction: ConveyorFunction {
    let name = "delete-schedule"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let name = try ScheduleFunctions.name(invocation)
        guard try ScheduleFunctions.store(context).delete(orgId: try invocation.caller.requireOrg(), name: name) else {
            throw ScheduleFunctions.notFound(name)
        }
        return .json(200, raw: Data(#"{"deleted":true}"#.utf8))
    }
}

/// `list-all-schedules`: every org's schedules for the operator (the dashboard), soonest first.
struct ListAllSchedulesFunction: ConveyorFunction {
    let name = "list-all-schedules"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let limit = try AdminInput.whole(invocation.request.query["limit"], field: "limit", in: 1...1000) ?? 100
        let schedules = try ScheduleFunctions.store(context).listAll(limit: limit)
        return .json(200, raw: JSONWriter.list("schedules", schedules) { schedule, w in
            w.field("orgId", schedule.orgId)
            ScheduleFunctions.fields(schedule, to: &w)
        })
    }
}
