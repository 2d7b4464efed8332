/// How long a statement may run and wait for a lock: PostgreSQL's `statement_timeout` and
/// `lock_timeout`. A request that meets a held lock fails fast instead of pinning its worker.
public struct TimeBounds: Sendable, Equatable {
    /// Milliseconds a statement may run; 0 is no bound.
    public var statementMs: Int
    /// Milliseconds a statement may wait for a lock; 0 is no bound.
    public var lockMs: Int

    public init(statementMs: Int, lockMs: Int) {
        self.statementMs = max(0, statementMs)
        self.lockMs = max(0, lockMs)
    }

    /// Bounds from seconds; the lock wait never outlasts the statement.
    public init(statementSeconds: Double, lockSeconds: Double) {
        let statement = Int((statementSeconds * 1000).rounded(.up))
        let lock = Int((lockSeconds * 1000).rounded(.up))
        self.init(statementMs: statement, lockMs: statement > 0 ? min(lock, statement) : lock)
    }

    /// SQLSTATEs of a statement cut short by these bounds: query_canceled, lock_not_available.
    public static let sqlStates: Set<String> = ["57014", "55P03"]
}
