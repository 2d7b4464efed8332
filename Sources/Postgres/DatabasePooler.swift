import FoundationEssentials

/// What stands between Conveyor and PostgreSQL, from `CONVEYOR_DATABASE_POOLER`.
///
/// Behind a pooler in transaction mode (PgBouncer's `pool_mode = transaction`), each transaction
/// may run on another server connection, so nothing may live in a session: statements go
/// unnamed (parsed with their parameters in one message sequence, instead of prepared once per
/// connection; PgBouncer before 1.21 cannot carry prepared statements), pipelines become one
/// statement after another, time bounds are the role's (a `SET statement_timeout` would stay on
/// a server connection another client gets next), and LISTEN, which needs its session, is
/// refused with a pointer to `CONVEYOR_LISTEN_DATABASE_URL`. The search path comes from the role:
/// `local-host migrate` sets it (`ALTER ROLE … IN DATABASE … SET search_path`).
public enum DatabasePooler: String, Sendable, CaseIterable {
    /// A direct connection, or a pooler in session mode: the session is ours.
    case none
    /// A pooler in transaction mode.
    case transaction

    /// The pooler `CONVEYOR_DATABASE_POOLER` names (`none` when unset or empty).
    /// Throws `PostgresError(.configuration)` naming the allowed values otherwise.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabasePooler {
        guard let value = environment["CONVEYOR_DATABASE_POOLER"], !value.isEmpty else { return .none }
        guard let pooler = DatabasePooler(rawValue: value) else {
            throw PostgresError(.configuration, message: "CONVEYOR_DATABASE_POOLER must be none or transaction, not '\(value.prefix(40))'")
        }
        return pooler
    }
}
