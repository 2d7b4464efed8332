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

    /// How far a statement bound already set may differ from the one wanted and still do: a
    /// request's bound shrinks by what it waited for a worker, so it differs by milliseconds from
    /// request to request, and a SET each time would cost every request a round trip.
    public static let statementToleranceMs = 1000

    /// True when bounds already set serve for `wanted`: the same lock bound, and a statement
    /// bound within the tolerance (0, no bound, only for 0).
    public func covers(_ wanted: TimeBounds) -> Bool {
        guard lockMs == wanted.lockMs else { return false }
        if statementMs == 0 || wanted.statementMs == 0 { return statementMs == wanted.statementMs }
        return abs(statementMs - wanted.statementMs) <= Self.statementToleranceMs
    }

    /// SQLSTATEs of a statement cut short by these bounds: query_canceled, lock_not_available.
    public static let sqlStates: Set<String> = ["57014", "55P03"]
}
