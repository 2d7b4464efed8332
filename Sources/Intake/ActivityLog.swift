import FoundationEssentials
import JobQueue
import Postgres

/// One audit row: who did what to which entity, with the details in `metadata`.
public struct ActivityEntry: Sendable, Equatable, Encodable {
    public var id: Int64
    public var action: String
    public var entity: String
    public var entityId: Int64?
    public var metadata: JSONValue
    public var createdAt: Date
}

/// The activity_log table: an append-only audit trail, scoped by org.
public struct ActivityLog: Sendable {
    /// Actions this module writes.
    public enum Action: String, Sendable {
        /// A routing decision, by the LLM or the offline router.
        case aiRoute = "AI_ROUTE"
        /// An LLM attempt that failed while job retries remained; the request went back to NEW.
        case aiRouteFailed = "AI_ROUTE_FAILED"
        /// A person assigned the request to a pipeline.
        case manualAssign = "MANUAL_ASSIGN"
    }

    /// The entity name of intake requests.
    public static let intakeRequest = "intake_request"

    public let connection: Connection

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Appends one row.
    public func record(_ action: Action, entity: String, entityId: Int64?, metadata: [String: JSONValue], orgId: Int64) throws {
        try connection.execute("""
            INSERT INTO activity_log (org_id, action, entity, entity_id, metadata)
            VALUES (\(orgId), \(action.rawValue), \(entity), \(entityId), \(PostgresJSON(text: JSONValue.object(metadata).jsonText))::jsonb)
            """)
    }

    /// The entity's rows, oldest first, at most `limit`.
    public func entries(entity: String, entityId: Int64, orgId: Int64, limit: Int = 100) throws -> [ActivityEntry] {
        try connection.query("""
            SELECT id, action, entity, entity_id, metadata, created_at FROM activity_log
            WHERE org_id = \(orgId) AND entity = \(entity) AND entity_id = \(entityId)
            ORDER BY id LIMIT \(limit)
            """).map { row in
            ActivityEntry(id: try row.decode("id"), action: try row.decode("action"), entity: try row.decode("entity"),
                          entityId: try row.decodeIfPresent("entity_id"),
                          metadata: try JSONValue.parse(try row.decode("metadata", as: String.self)),
                          createdAt: try row.decode("created_at"))
        }
    }
}
