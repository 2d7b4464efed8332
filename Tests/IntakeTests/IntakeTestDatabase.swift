import Accounts
import Foundation
import Intake
import JobQueue
import Logging
import Postgres
import Testing

/// A connection to the test cluster, migrated, with a fresh org per test so tests run in parallel.
struct IntakeTestDatabase {
    let db: Connection
    let orgId: Int64

    init() throws {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through scripts/with-postgres or scripts/test")
            throw PostgresError(.configuration, message: "DATABASE_URL is not set")
        }
        db = try Connection(url: url, applicationName: "conveyor-intake-tests")
        try Migrator.migrate(AccountsSchema.migrations + JobQueueSchema.migrations + IntakeSchema.migrations, on: db)
        orgId = try Self.newOrg(db)
    }

    static func newOrg(_ db: Connection) throws -> Int64 {
        try OrganizationStore(connection: db).create(name: "intake test \(UUID().uuidString.prefix(8))").0.id
    }

    /// An offline service (no OPENAI_API_KEY), or one whose LLM is `llm`.
    func service(llm: LLMSettings? = nil, threshold: Double = 0.7) -> IntakeService {
        var logger = Logger(label: "intake-tests")
        logger.logLevel = .critical
        return IntakeService(connection: db, settings: IntakeSettings(llm: llm, autoAssignThreshold: threshold), logger: logger)
    }

    @discardableResult
    func pipeline(_ name: String, _ description: String = "", keywords: [String] = [], orgId: Int64? = nil) throws -> Pipeline {
        try PipelineStore(connection: db).upsert(try PipelineInput(name: name, description: description, keywords: keywords), orgId: orgId ?? self.orgId).pipeline
    }

    func actions(_ requestId: Int64) throws -> [String] {
        try ActivityLog(connection: db).entries(entity: ActivityLog.intakeRequest, entityId: requestId, orgId: orgId).map(\.action)
    }
}
