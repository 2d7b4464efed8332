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
        return try .json(200, JobBody(job))
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
        return try .json(200, PageBody(jobs: page.jobs.map(JobBody.init), nextCursor: page.nextCursor))
    }

    struct PageBody: Encodable {
        var jobs: [JobBody]
        var nextCursor: Int64?
    }
}

/// A job as the API shows it.
struct JobBody: Encodable {
    var id: Int64
    var queue: String
    var kind: String
    var state: JobState
    var priority: Int
    var attempt: Int
    var maxAttempts: Int
    var runAt: Date
    var payload: JSONValue?
    var result: JSONValue?
    var errors: [JobErrorEntry]
    var progress: JobProgress?
    var idempotencyKey: String?
    var durationMs: Int?
    var createdAt: Date
    var startedAt: Date?
    var finishedAt: Date?

    init(_ j: Job) {
        id = j.id; queue = j.queue; kind = j.kind; state = j.state; priority = j.priority; attempt = j.attempt
        maxAttempts = j.maxAttempts; runAt = j.runAt; payload = j.payload; result = j.result; errors = j.errors
        progress = j.progress; idempotencyKey = j.idempotencyKey; durationMs = j.durationMs; createdAt = j.createdAt
        startedAt = j.startedAt; finishedAt = j.finishedAt
    }
}
