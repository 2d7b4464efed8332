import FoundationEssentials
import JobQueue
import Logging
import Postgres
import Routing

/// Pipelines, intake requests and their routing, on one worker's connection.
///
/// Not thread-safe: one per worker. The LLM client (and its curl handle) is made on first use
/// and reused for the service's lifetime.
public final class IntakeService {
    public let connection: Connection
    public let settings: IntakeSettings
    let logger: Logger
    private var client: LLMClient?

    public init(connection: Connection, settings: IntakeSettings, logger: Logger = Logger(label: "conveyor.intake"),
                llmClient: LLMClient? = nil) {
        self.connection = connection
        self.settings = settings
        self.logger = logger
        self.client = llmClient
    }

    public var pipelineStore: PipelineStore { PipelineStore(connection: connection) }
    public var requestStore: IntakeRequestStore { IntakeRequestStore(connection: connection) }
    public var activityLog: ActivityLog { ActivityLog(connection: connection) }

    /// The LLM client, when a key is configured.
    var llmClient: LLMClient? {
        guard let llm = settings.llm else { return nil }
        if client == nil { client = LLMClient(settings: llm) }
        return client
    }

    /// Creates or updates a pipeline (see `PipelineStore.upsert`).
    public func upsertPipeline(_ input: PipelineInput, orgId: Int64) throws -> (pipeline: Pipeline, created: Bool) {
        try pipelineStore.upsert(input, orgId: orgId)
    }

    /// The org's pipelines by name.
    /// One pipeline of the org, or nil (another org's is nil too).
    public func pipeline(id: Int64, orgId: Int64) throws -> Pipeline? {
        try pipelineStore.pipeline(id: id, orgId: orgId)
    }

    public func pipelines(orgId: Int64, includeInactive: Bool = true) throws -> [Pipeline] {
        try pipelineStore.pipelines(orgId: orgId, includeInactive: includeInactive)
    }

    /// A page of the org's requests.
    public func requests(orgId: Int64, filter: IntakeFilter) throws -> IntakePage {
        try requestStore.requests(orgId: orgId, filter: filter)
    }

    /// One request of the org with its activity, oldest first; another org's request is not found.
    public func request(id: Int64, orgId: Int64) throws -> (request: IntakeRequest, activity: [ActivityEntry]) {
        guard let request = try requestStore.request(id: id, orgId: orgId) else { throw IntakeError(.notFound, "no such intake request") }
        return (request, try activityLog.entries(entity: ActivityLog.intakeRequest, entityId: id, orgId: orgId))
    }

    /// Stores a new request (NEW); see `IntakeRequestStore.insert` for `sourceJobId`.
    public func create(_ new: NewIntakeRequest, orgId: Int64, sourceJobId: Int64? = nil) throws -> IntakeRequest {
        try requestStore.insert(new, orgId: orgId, sourceJobId: sourceJobId)
    }

    /// Stores a new request and its route-intake job in one transaction: both or neither.
    /// `job` is the validated job (kind, queue, attempts); see `routingJob` for the rest.
    public func createAndDefer(_ new: NewIntakeRequest, job: NewJob, orgId: Int64) throws -> (request: IntakeRequest, job: EnqueuedJob) {
        try connection.transaction { c in
            let request = try IntakeRequestStore(connection: c).insert(new, orgId: orgId)
            let enqueued = try PostgresJobStore(connection: c).enqueue([Self.routingJob(job, for: request)], orgId: orgId)[0]
            return (request, enqueued)
        }
    }

    /// Enqueues a route-intake job for an existing request that is still routable.
    public func deferRouting(requestId: Int64, job: NewJob, orgId: Int64) throws -> EnqueuedJob {
        try connection.transaction { c in
            guard let request = try IntakeRequestStore(connection: c).request(id: requestId, orgId: orgId, lock: true) else {
                throw IntakeError(.notFound, "no such intake request")
            }
            guard IntakeStatus.routable.contains(request.status) else {
                throw IntakeError(.conflict, "the request is \(request.status.rawValue); only NEW or ROUTING requests are routed")
            }
            return try PostgresJobStore(connection: c).enqueue([Self.routingJob(job, for: request)], orgId: orgId)[0]
        }
    }

    /// The job for `request`: its payload names the request, and urgent requests run first
    /// (the job's priority is the request's, 0–3).
    static func routingJob(_ template: NewJob, for request: IntakeRequest) -> NewJob {
        var job = template
        job.payloadJSON = #"{"requestId":\#(request.id)}"#
        job.priority = request.priority
        return job
    }

    /// Assigns a request by hand to an active pipeline of the same org and logs MANUAL_ASSIGN.
    /// Another org's request or pipeline is not found; a request past assignment is a conflict.
    public func assign(requestId: Int64, pipelineId: Int64, orgId: Int64) throws -> IntakeRequest {
        try connection.transaction { c in
            let requests = IntakeRequestStore(connection: c)
            guard let before = try requests.request(id: requestId, orgId: orgId, lock: true) else {
                throw IntakeError(.notFound, "no such intake request")
            }
            guard let pipeline = try PipelineStore(connection: c).pipeline(id: pipelineId, orgId: orgId) else {
                throw IntakeError(.notFound, "no such pipeline", field: "pipelineId")
            }
            guard pipeline.isActive else { throw IntakeError.invalid("pipelineId", "the pipeline is inactive") }
            guard IntakeStatus.assignable.contains(before.status) else {
                throw IntakeError(.conflict, "the request is \(before.status.rawValue); only NEW, ROUTING or ASSIGNED requests can be assigned")
            }
            let after = try requests.assign(id: requestId, orgId: orgId, pipelineId: pipelineId)
            try ActivityLog(connection: c).record(.manualAssign, entity: ActivityLog.intakeRequest, entityId: requestId, metadata: [
                "pipelineId": .int(pipelineId), "pipelineName": .string(pipeline.name),
                "previousStatus": .string(before.status.rawValue),
                "previousPipelineId": before.assignedPipelineId.map(JSONValue.int) ?? .null,
                "routingConfidence": before.routingConfidence.map(JSONValue.double) ?? .null,
            ], orgId: orgId)
            return after
        }
    }
}
