import FoundationEssentials
import JobQueue

/// `list-admin-jobs` (admin): jobs of every org in one state (`?state=`, default dead), newest
/// first, with their error history; filtered by `queue` and `kind`, keyset-paged with `before`.
struct ListAdminJobsFunction: ConveyorFunction {
    let name = "list-admin-jobs"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let q = invocation.request.query
        var state = JobState.dead
        if let s = q["state"] {
            guard let parsed = JobState(rawValue: s) else {
                throw APIError(.invalidInput, "state: must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))", details: ["field": "state"])
            }
            state = parsed
        }
        let queue = try AdminInput.queue(q["queue"], field: "queue")
        let kind = try AdminInput.kind(q["kind"])
        let limit = try AdminInput.whole(q["limit"], field: "limit", in: 1...200) ?? 50
        let before = try AdminInput.whole(q["before"], field: "before", in: 1...Int.max).map(Int64.init)
        let page = try PostgresJobStore(connection: context.database()).adminJobs(state: state, queue: queue, kind: kind, limit: limit, before: before)
        return JobBody.page(page.jobs, nextCursor: page.nextCursor)
    }
}

/// `retry-job` (admin): a dead job gets a fresh set of attempts and runs again as soon as a
/// batch claims it; its error history stays. 409 for a job that is not dead.
struct RetryJobFunction: ConveyorFunction {
    let name = "retry-job"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let id = try AdminInput.jobId(invocation)
        let job = try PostgresJobStore(connection: context.database()).retryDeadJob(id: id)
        context.logger.info("dead job retried", metadata: ["job": "\(id)"])
        return JobBody(job).response
    }
}

/// `cancel-job` (admin): cancels a job that has not started (waiting, delayed or backing off).
/// 409 for a running or finished job.
struct CancelJobFunction: ConveyorFunction {
    let name = "cancel-job"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let id = try AdminInput.jobId(invocation)
        let job = try PostgresJobStore(connection: context.database()).cancelJob(id: id)
        context.logger.info("job cancelled", metadata: ["job": "\(id)"])
        return JobBody(job).response
    }
}

/// `retry-dead` (admin): retries dead jobs in bulk, `{"queue"?, "kind"?, "limit"?}`, at most
/// `limit` (default 1000, at most 10000) per call; `more` says to call again.
struct RetryDeadFunction: ConveyorFunction {
    let name = "retry-dead"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let body = try AdminInput.object(invocation.request, allowed: ["queue", "kind", "limit"])
        let queue = try AdminInput.queue(body["queue"].map(AdminInput.string(field: "queue")), field: "queue")
        let kind = try AdminInput.kind(body["kind"].map(AdminInput.string(field: "kind")))
        let limit = try body["limit"].map { v -> Int in
            guard let n = v.intValue, (1...10_000).contains(n) else {
                throw APIError(.invalidInput, "limit: must be a whole number from 1 to 10000", details: ["field": "limit"])
            }
            return Int(n)
        } ?? 1000
        let retried = try PostgresJobStore(connection: context.database()).retryDeadJobs(queue: queue, kind: kind, limit: limit)
        context.logger.info("dead jobs retried", metadata: ["count": "\(retried)"])
        return .json(200, raw: Data(JSONValue.object(["retried": .int(Int64(retried)), "more": .bool(retried == limit)]).jsonText.utf8))
    }
}

/// `purge-jobs` (admin): deletes finished jobs older than `olderThanSeconds`, optionally only
/// some `states` and one `queue`, at most `limit` (default 10000) per call.
struct PurgeJobsFunction: ConveyorFunction {
    let name = "purge-jobs"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let body = try AdminInput.object(invocation.request, allowed: ["olderThanSeconds", "states", "queue", "limit"])
        guard let age = body["olderThanSeconds"]?.intValue, age >= 0, age <= 315_360_000 else {
            throw APIError(.invalidInput, "olderThanSeconds: is required, a whole number of seconds from 0 to 315360000", details: ["field": "olderThanSeconds"])
        }
        var states = PostgresJobStore.purgeableStates
        if let list = body["states"] {
            guard case .array(let items) = list, !items.isEmpty,
                  let parsed = Optional(items.compactMap { $0.stringValue.flatMap(JobState.init(rawValue:)) }),
                  parsed.count == items.count, parsed.allSatisfy(\.isFinished) else {
                throw APIError(.invalidInput, "states: must be a non-empty array of completed, dead, cancelled", details: ["field": "states"])
            }
            states = parsed
        }
        let queue = try AdminInput.queue(body["queue"].map(AdminInput.string(field: "queue")), field: "queue")
        let limit = try body["limit"].map { v -> Int in
            guard let n = v.intValue, (1...100_000).contains(n) else {
                throw APIError(.invalidInput, "limit: must be a whole number from 1 to 100000", details: ["field": "limit"])
            }
            return Int(n)
        } ?? 10_000
        let result = try PostgresJobStore(connection: context.database())
            .purgeFinished(olderThanSeconds: Int(age), states: states, queue: queue, limit: limit)
        context.logger.info("finished jobs purged", metadata: ["count": "\(result.deleted)"])
        return .json(200, raw: Data(JSONValue.object(["deleted": .int(Int64(result.deleted)), "more": .bool(result.more)]).jsonText.utf8))
    }
}

/// `pause-queue` and `resume-queue` (admin): a paused queue keeps its jobs but no batch claims
/// them. The same flag as `update-queue {"paused": …}`, without a body.
struct PauseQueueFunction: ConveyorFunction {
    let name: String
    let paused: Bool

    static let pause = PauseQueueFunction(name: "pause-queue", paused: true)
    static let resume = PauseQueueFunction(name: "resume-queue", paused: false)

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let queue = try QueuePath.name(invocation)
        let result = try PostgresJobStore(connection: context.database()).setPaused(queue: queue, paused)
        if result.changed { context.logger.info(paused ? "queue paused" : "queue resumed", metadata: ["queue": "\(queue)"]) }
        return .json(200, raw: Data(result.settings.json.jsonText.utf8))
    }
}
