import FoundationEssentials
import JobQueue

/// `job-status`: one job of the caller's org, with its state, attempts, progress, result and
/// error history. Another org's job is a 404, exactly like a job that does not exist.
struct JobStatusFunction: ConveyorFunction {
    let name = "job-status"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        guard let text = invocation.pathParams["id"], let id = Int64(text), id > 0,
              let job = try PostgresJobStore(connection: context.database()).job(id: id, orgId: org) else {
            throw APIError(.notFound, "no such job")
        }
        return JobBody(job).response
    }
}

/// `list-jobs`: the org's jobs, newest first, filtered by state, queue and kind, keyset-paged
/// with `before` (the `nextCursor` of the previous page).
struct ListJobsFunction: ConveyorFunction {
    let name = "list-jobs"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let q = invocation.request.query
        var filter = JobFilter()
        if let s = q["state"] {
            guard let state = JobState(rawValue: s) else {
                throw APIError(.invalidInput, "state: must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))", details: ["field": "state"])
            }
            filter.state = state
        }
        if let queue = q["queue"] {
            guard JobRequest.isValidQueueName(queue) else {
                throw APIError(.invalidInput, "queue: is not a valid queue name", details: ["field": "queue"])
            }
            filter.queue = queue
        }
        if let kind = q["kind"] {
            guard (1...200).contains(kind.utf8.count), !kind.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw APIError(.invalidInput, "kind: must be 1 to 200 characters with no control characters", details: ["field": "kind"])
            }
            filter.kind = kind
        }
        let paging = try PageQuery(q, cursorNoun: "job")
        if let limit = paging.limit { filter.limit = limit }
        filter.before = paging.before
        let page = try PostgresJobStore(connection: context.database()).jobs(orgId: org, filter: filter)
        return JobBody.page(page.jobs, nextCursor: page.nextCursor)
    }
}

/// A job as the API shows it. Written by hand, not by JSONEncoder: the payload and result keep
/// every digit of their numbers (JSONEncoder would round them through a double).
struct JobBody {
    let job: Job

    init(_ job: Job) { self.job = job }

    /// Keys in sorted order, as the encoder wrote them before.
    func write(to w: inout JSONWriter) {
        let j = job
        w.beginObject()
        w.field("attempt", j.attempt)
        w.field("createdAt", j.createdAt)
        if let d = j.durationMs { w.field("durationMs", d) }
        w.beginArray("errors")
        for e in j.errors {
            w.beginObject()
            w.field("at", e.at)
            w.field("attempt", e.attempt)
            if let d = e.durationMs { w.field("durationMs", d) }
            w.field("message", e.message)
            if let r = e.rescued { w.field("rescued", r) }
            w.endObject()
        }
        w.endArray()
        if let f = j.finishedAt { w.field("finishedAt", f) }
        w.field("id", j.id)
        if let k = j.idempotencyKey { w.field("idempotencyKey", k) }
        w.field("kind", j.kind)
        w.field("maxAttempts", j.maxAttempts)
        if let p = j.payload { w.field("payload", json: p) }
        w.field("priority", j.priority)
        if let p = j.progress {
            w.beginObject("progress")
            if let m = p.message { w.field("message", m) }
            w.field("percent", p.percent)
            w.endObject()
        }
        w.field("queue", j.queue)
        if let r = j.result { w.field("result", json: r) }
        w.field("runAt", j.runAt)
        if let s = j.startedAt { w.field("startedAt", s) }
        w.field("state", j.state.rawValue)
        w.endObject()
    }

    /// One job as a 200 answer.
    var response: HTTPResponse {
        var w = JSONWriter(capacity: 512)
        write(to: &w)
        return .json(200, raw: w.data)
    }

    /// A page of jobs as a 200 answer.
    static func page(_ jobs: [Job], nextCursor: Int64?) -> HTTPResponse {
        var w = JSONWriter(capacity: 256 + jobs.count * 384)
        w.beginObject()
        w.beginArray("jobs")
        for j in jobs { JobBody(j).write(to: &w) }
        w.endArray()
        if let nextCursor { w.field("nextCursor", nextCursor) }
        w.endObject()
        return .json(200, raw: w.data)
    }
}
