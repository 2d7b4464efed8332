import FoundationEssentials
import Intake
import JobQueue

/// `route-intake`: routes one intake request to the best active pipeline of the caller's org.
///
/// The body is `{"requestId"}` for a stored request, or a new request `{title, description?,
/// source, priority?, requestData?}`. Directly, it routes now and answers with the routing
/// (201 when it also stored the request). With `"defer": true` it stores the request (NEW) and
/// a route-intake job in one transaction and answers 202 `{requestId, jobId}`.
///
/// As a job it always routes now; a failed LLM attempt retries the job, and its last attempt
/// falls back to the offline router (see `IntakeService.route`). When the LLM fails on a direct
/// call, the offline router answers at once, never auto-assigning, and `fallback` says why.
struct RouteIntakeFunction: ConveyorFunction {
    let name = "route-intake"

    struct Deferred: Encodable {
        var requestId: Int64
        var jobId: Int64
        var queue: String
        var runAt: Date
    }

    /// A job for a request that is already past routing completes with this, untouched.
    struct Skipped: Encodable {
        var requestId: Int64
        var status: IntakeStatus
        var skipped = true
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let body = try BodyDecoder.parse(invocation.request)
        let input = try intakeCall { try RouteIntakeInput(json: body) }
        let service = try context.intakeService(within: invocation.job?.remainingSeconds)
        return try intakeCall {
            if let job = invocation.job {
                let requestId: Int64
                switch input.target {
                case .existing(let id): requestId = id
                // Enqueued by hand with a new request: stored once per job, however often it retries.
                case .new(let new): requestId = try service.create(new, orgId: org, sourceJobId: job.job.id).id
                }
                let outcome = try service.route(requestId: requestId, orgId: org,
                                                attempt: .job(attempt: job.job.attempt, isLast: job.job.isLastAttempt))
                return try answer(outcome, status: 200)
            }
            if input.deferred {
                let template = try JobRequest(kind: name, queue: input.queue).validated(kinds: context.jobKinds)
                switch input.target {
                case .existing(let id):
                    let job = try service.deferRouting(requestId: id, job: template, orgId: org)
                    return try .json(202, Deferred(requestId: id, jobId: job.id, queue: job.queue, runAt: job.runAt))
                        .located("v1", "jobs", String(job.id))
                case .new(let new):
                    let (request, job) = try service.createAndDefer(new, job: template, orgId: org)
                    return try .json(202, Deferred(requestId: request.id, jobId: job.id, queue: job.queue, runAt: job.runAt))
                        .located("v1", "jobs", String(job.id))
                }
            }
            switch input.target {
            case .existing(let id):
                return try answer(service.route(requestId: id, orgId: org, attempt: .direct), status: 200, direct: true)
            case .new(let new):
                let request = try service.create(new, orgId: org)
                return try answer(service.route(requestId: request.id, orgId: org, attempt: .direct), status: 201, direct: true)
                    .located("v1", "intake", String(request.id))
            }
        }
    }

    func answer(_ outcome: RoutingOutcome, status: Int, direct: Bool = false) throws -> HTTPResponse {
        switch outcome {
        case .routed(let result):
            return try .json(status, result)
        case .notRoutable(let request) where direct:
            throw APIError(.conflict, "the request is \(request.status.rawValue); only NEW or ROUTING requests are routed",
                           details: ["status": .string(request.status.rawValue)])
        case .notRoutable(let request):
            return try .json(200, Skipped(requestId: request.id, status: request.status))
        }
    }
}
