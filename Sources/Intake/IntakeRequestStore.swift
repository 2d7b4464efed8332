import FoundationEssentials
import JobQueue
import Postgres

/// Filters and page for list-intake: newest first, keyset-paged on id.
public struct IntakeFilter: Sendable, Equatable {
    public var status: IntakeStatus?
    public var source: IntakeSource?
    public var limit: Int
    /// Only requests with a smaller id: the previous page's `nextCursor`.
    public var before: Int64?

    public init(status: IntakeStatus? = nil, source: IntakeSource? = nil, limit: Int = 50, before: Int64? = nil) {
        self.status = status
        self.source = source
        self.limit = limit
        self.before = before
    }
}

/// One page of requests; `nextCursor` is nil on the last page.
public struct IntakePage: Sendable, Equatable {
    public var requests: [IntakeRequest]
    public var nextCursor: Int64?
}

/// The intake_requests table. Every statement is scoped by org.
public struct IntakeRequestStore: Sendable {
    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Stores a new request (NEW). With `sourceJobId`, a second call for the same job returns
    /// the request the first one stored, so a retried job never creates a duplicate.
    public func insert(_ new: NewIntakeRequest, orgId: Int64, sourceJobId: Int64? = nil) throws -> IntakeRequest {
        let rows = try connection.query("""
            INSERT INTO intake_requests (org_id, title, description, source, priority, request_data, source_job_id)
            VALUES (\(orgId), \(new.title), \(new.description), \(new.source.rawValue), \(new.priority)::smallint,
                    \(PostgresJSON(text: new.requestData.jsonText))::jsonb, \(sourceJobId)::bigint)
            ON CONFLICT (org_id, source_job_id) WHERE source_job_id IS NOT NULL DO NOTHING
            RETURNING \(IntakeRequest.columns)
            """)
        if let row = rows.first { return try IntakeRequest(row: row) }
        let existing = try connection.query("""
            SELECT \(IntakeRequest.columns) FROM intake_requests WHERE org_id = \(orgId) AND source_job_id = \(sourceJobId)
            """)
        guard let row = existing.first else { throw IntakeError(.conflict, "the request of this job vanished while storing it; retry") }
        return try IntakeRequest(row: row)
    }

    /// One request of the org, or nil; `lock` takes a row lock for the enclosing transaction.
    public func request(id: Int64, orgId: Int64, lock: Bool = false) throws -> IntakeRequest? {
        try connection.query("""
            SELECT \(IntakeRequest.columns) FROM intake_requests WHERE id = \(id) AND org_id = \(orgId)\(unsafe: lock ? " FOR UPDATE" : "")
            """).first.map(IntakeRequest.init(row:))
    }

    /// A page of the org's requests, newest first.
    public func requests(orgId: Int64, filter: IntakeFilter) throws -> IntakePage {
        var sql: SQL = "SELECT \(IntakeRequest.columns) FROM intake_requests WHERE org_id = \(orgId)"
        if let status = filter.status { sql += " AND status = \(status.rawValue)" }
        if let source = filter.source { sql += " AND source = \(source.rawValue)" }
        if let before = filter.before { sql += " AND id < \(before)" }
        let limit = min(max(filter.limit, 1), 200)
        sql += " ORDER BY id DESC LIMIT \(limit + 1)"
        var requests = try connection.query(sql).map(IntakeRequest.init(row:))
        var next: Int64?
        if requests.count > limit {
            requests.removeLast()
            next = requests.last?.id
        }
        return IntakePage(requests: requests, nextCursor: next)
    }

    /// Moves a routable request (NEW or ROUTING) to ROUTING and returns it; nil when the request
    /// is not routable (or not the org's). ROUTING is routable so that a request whose job died
    /// mid-flight, or one under manual review, can be routed again.
    func beginRouting(id: Int64, orgId: Int64) throws -> IntakeRequest? {
        try connection.query("""
            UPDATE intake_requests SET status = 'ROUTING', updated_at = now()
            WHERE id = \(id) AND org_id = \(orgId) AND status IN ('NEW', 'ROUTING')
            RETURNING \(IntakeRequest.columns)
            """).first.map(IntakeRequest.init(row:))
    }

    /// A failed attempt with retries left: back to NEW, keeping the reason.
    func returnToNew(id: Int64, orgId: Int64, reason: String) throws {
        try connection.execute("""
            UPDATE intake_requests SET status = 'NEW', routing_error = \(reason), updated_at = now()
            WHERE id = \(id) AND org_id = \(orgId) AND status = 'ROUTING'
            """)
    }

    /// Stores a routing decision on a request still in ROUTING; nil when it left ROUTING
    /// meanwhile (assigned by hand while the LLM was thinking), whose state then stands.
    func applyRouting(id: Int64, orgId: Int64, assignTo pipelineId: Int64?, analysis: JSONValue, confidence: Double,
                      reasoning: String, suggestions: JSONValue, error: String?) throws -> IntakeRequest? {
        try connection.query("""
            UPDATE intake_requests SET
                status = CASE WHEN \(pipelineId)::bigint IS NULL THEN 'ROUTING' ELSE 'ASSIGNED' END,
                assigned_pipeline_id = \(pipelineId)::bigint,
                ai_analysis = \(PostgresJSON(text: analysis.jsonText))::jsonb,
                routing_confidence = \(confidence)::float8,
                routing_reasoning = \(reasoning),
                suggested_pipelines = \(PostgresJSON(text: suggestions.jsonText))::jsonb,
                routing_error = \(error),
                ai_processed_at = now(),
                updated_at = now()
            WHERE id = \(id) AND org_id = \(orgId) AND status = 'ROUTING'
            RETURNING \(IntakeRequest.columns)
            """).first.map(IntakeRequest.init(row:))
    }

    /// Assigns a request to a pipeline of the same org (the composite foreign key holds that too).
    func assign(id: Int64, orgId: Int64, pipelineId: Int64) throws -> IntakeRequest {
        let rows = try connection.query("""
            UPDATE intake_requests SET status = 'ASSIGNED', assigned_pipeline_id = \(pipelineId), updated_at = now()
            WHERE id = \(id) AND org_id = \(orgId)
            RETURNING \(IntakeRequest.columns)
            """)
        guard let row = rows.first else { throw IntakeError(.notFound, "no such intake request") }
        return try IntakeRequest(row: row)
    }
}
