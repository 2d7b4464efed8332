import Accounts
import Intake
import JobQueue
import Postgres
import Schedules
import Targets

/// Every module's migrations, in one numbered sequence.
public enum ConveyorSchema {
    public static var migrations: [Migration] {
        [
            AccountsSchema.migrations,
            JobQueueSchema.migrations,
            IntakeSchema.migrations,
            TargetsSchema.migrations,
            SchedulesSchema.migrations,
            SQLInterface.migrations,
            // @schemas: each module's migrations, above this line
        ].flatMap { $0 }
    }

    /// Applies what is missing, under the migrator's advisory lock.
    @discardableResult
    public static func migrate(_ connection: Connection) throws -> [Int] {
        try Migrator.migrate(migrations, on: connection)
    }

    /// Migrates, then writes the manifest's kinds for SQL enqueues (`SQLInterface.publishKinds`).
    @discardableResult
    public static func migrate(_ connection: Connection, kinds: JobKinds) throws -> [Int] {
        let applied = try migrate(connection)
        try SQLInterface.publishKinds(kinds, on: connection)
        return applied
    }

    /// True when every known migration is applied.
    public static func isCurrent(_ connection: Connection) throws -> Bool {
        Set(try Migrator.appliedVersions(on: connection)).isSuperset(of: migrations.map(\.version))
    }
}
