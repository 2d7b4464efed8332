import FoundationEssentials
import Postgres

/// The pipelines table. Every statement is scoped by org.
public struct PipelineStore: Sendable {
    public let connection: Connection

    /// The most pipelines one org may have: all of them are listed in one answer and sent to
    /// the LLM with every request, so the count must stay small.
    public static let maxPipelinesPerOrg = 100

    public init(connection: Connection) {
        self.connection = connection
    }

    /// Creates or updates a pipeline; `created` tells which.
    ///
    /// With an id, only that pipeline of the org is updated (another org's id is not found).
    /// Without, the org's pipeline of the same name is updated, or a new one is created.
    public func upsert(_ input: PipelineInput, orgId: Int64) throws -> (pipeline: Pipeline, created: Bool) {
        let keywords = input.keywords
        do {
            if let id = input.id {
                let rows = try connection.query("""
                    UPDATE pipelines SET
                        name = coalesce(\(input.name), name),
                        description = coalesce(\(input.description), description),
                        keywords = coalesce(\(keywords)::text[], keywords),
                        is_active = coalesce(\(input.isActive)::boolean, is_active),
                        updated_at = now()
                    WHERE id = \(id) AND org_id = \(orgId)
                    RETURNING \(Pipeline.columns)
                    """)
                guard let row = rows.first else { throw IntakeError(.notFound, "no such pipeline", field: "id") }
                return (try Pipeline(row: row), false)
            }
            // A new name is inserted only while the org is under the cap; an existing one is
            // always updated (the SELECT yields its row, and ON CONFLICT turns it into the update).
            let rows = try connection.query("""
                INSERT INTO pipelines AS p (org_id, name, description, keywords, is_active)
                SELECT \(orgId)::bigint, \(input.name)::text, coalesce(\(input.description), ''), coalesce(\(keywords)::text[], '{}'),
                       coalesce(\(input.isActive)::boolean, true)
                WHERE EXISTS (SELECT 1 FROM pipelines WHERE org_id = \(orgId) AND name = \(input.name))
                   OR (SELECT count(*) FROM pipelines WHERE org_id = \(orgId)) < \(Self.maxPipelinesPerOrg)
                ON CONFLICT (org_id, name) DO UPDATE SET
                    description = coalesce(\(input.description), p.description),
                    keywords = coalesce(\(keywords)::text[], p.keywords),
                    is_active = coalesce(\(input.isActive)::boolean, p.is_active),
                    updated_at = now()
                RETURNING \(Pipeline.columns), (xmax = 0) AS created
                """)
            guard let row = rows.first else {
                throw IntakeError(.conflict, "the org already has \(Self.maxPipelinesPerOrg) pipelines, the most allowed; "
                                  + "update or deactivate one instead", field: "name")
            }
            return (try Pipeline(row: row), try row.decode("created"))
        } catch let e as PostgresError where e.isUniqueViolation {
            throw IntakeError(.conflict, "another pipeline of this org is already named \(input.name ?? "that")", field: "name")
        }
    }

    /// The org's pipelines by name; only the active ones unless `includeInactive`.
    public func pipelines(orgId: Int64, includeInactive: Bool = true) throws -> [Pipeline] {
        try connection.query("""
            SELECT \(Pipeline.columns) FROM pipelines
            WHERE org_id = \(orgId) AND (is_active OR \(includeInactive))
            ORDER BY name, id LIMIT \(Self.maxPipelinesPerOrg)
            """).map(Pipeline.init(row:))
    }

    /// One pipeline of the org, or nil.
    public func pipeline(id: Int64, orgId: Int64) throws -> Pipeline? {
        try connection.query("SELECT \(Pipeline.columns) FROM pipelines WHERE id = \(id) AND org_id = \(orgId)")
            .first.map(Pipeline.init(row:))
    }
}
