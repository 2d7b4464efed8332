import CLibPQ
import FoundationEssentials
import Synchronization

/// One blocking PostgreSQL connection.
///
/// Synchronous on purpose: callers run it on dedicated threads or processes, never on the
/// async cooperative pool. The libpq handle sits behind a mutex, which makes the type
/// `Sendable` and enforces libpq's one-thread-at-a-time rule.
///
/// Reconnects: outside a transaction, a connection that died while idle (server restart,
/// terminated backend) is silently re-opened before the next statement, with session settings
/// and LISTENs restored. A statement that fails because the connection broke mid-flight is
/// never retried (it may have committed): it throws `PostgresError(.connection)` and the next
/// call reconnects. Inside a transaction nothing is silently re-opened.
public final class Connection: Sendable {
    private let session: Mutex<Session>
    // Mirrors of libpq state readable without the lock, which a long wait may be holding.
    private let lastStatusOK: Atomic<Bool>
    private let lastBackendPID: Atomic<Int32>

    /// The schema whose tables this connection's statements use (see `DatabaseSchema`).
    public let schema: DatabaseSchema
    /// What stands between this connection and the server (see `DatabasePooler`); by default
    /// the one `CONVEYOR_DATABASE_POOLER` names.
    public let pooler: DatabasePooler

    /// Opens a connection. `url` is a libpq URI (postgresql://…) or a key=value conninfo string.
    /// The session runs in UTC with ISO dates, finds its tables in `schema` (by default the one
    /// `CONVEYOR_SCHEMA` names) and reports `applicationName` to the server.
    /// Throws `PostgresError(.connection)` with libpq's message if the server can't be reached,
    /// and `PostgresError(.configuration)` for an invalid `CONVEYOR_SCHEMA`.
    /// `database`, when given, names the database instead of the URL.
    public init(url: String, applicationName: String = "conveyor", schema: DatabaseSchema? = nil, pooler: DatabasePooler? = nil,
                database: String? = nil) throws {
        let schema = try schema ?? DatabaseSchema.fromEnvironment()
        let pooler = try pooler ?? DatabasePooler.fromEnvironment()
        let conn = try Session.connect(url: url, applicationName: applicationName, database: database)
        var session = Session(conn: conn, schema: schema, pooled: pooler == .transaction)
        self.schema = schema
        self.pooler = pooler
        do {
            try session.setUpSession()
        } catch {
            PQfinish(conn)
            throw error
        }
        lastStatusOK = Atomic(true)
        lastBackendPID = Atomic(PQbackendPID(conn))
        self.session = Mutex(session)
    }

    deinit {
        session.withLock { PQfinish($0.conn) }
    }

    /// Opens a connection to `DATABASE_URL`.
    /// Throws `PostgresError(.configuration)` if the variable is missing or empty.
    public static func fromEnvironment(applicationName: String = "conveyor", schema: DatabaseSchema? = nil) throws -> Connection {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            throw PostgresError(.configuration, message: "DATABASE_URL is not set")
        }
        return try Connection(url: url, applicationName: applicationName, schema: schema)
    }

    /// Bounds the statements sent from now on: each may run `statementMs` and wait for a lock
    /// `lockMs` (0 means no bound), then fails with SQLSTATE 57014 or 55P03. Set with one
    /// round trip before the next statement outside a transaction, and only when it changes by
    /// more than `TimeBounds.statementToleranceMs` (or the lock bound changes).
    public func bound(_ bounds: TimeBounds?) {
        session.withLock { $0.wantedTimeouts = bounds }
    }

    /// The value libpq uses for a connection option (`connect_timeout`, `keepalives_idle`, …),
    /// whether the URL or a default set it; nil when unset.
    public func option(_ keyword: String) -> String? {
        session.withLock { session in
            guard let options = PQconninfo(session.conn) else { return nil }
            defer { PQconninfoFree(options) }
            var i = 0
            while let k = options[i].keyword {
                if String(cString: k) == keyword { return options[i].val.map { String(cString: $0) } }
                i += 1
            }
            return nil
        }
    }

    /// Runs one statement; interpolated values travel as bind parameters (text format,
    /// types inferred by the server).
    @discardableResult
    public func query(_ sql: SQL) throws -> QueryResult {
        try withSession { try $0.execute(sql) }
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: SQL) throws -> Int {
        try query(sql).affectedRows
    }

    /// Runs each statement in its own implicit transaction, in order, in one round trip, and
    /// returns each one's outcome: a failure does not stop the statements after it. For work
    /// that must commit separately but need not wait for a round trip each, such as a
    /// notification sent after (never inside) the transaction it announces. Throws only when the
    /// connection breaks, or when called inside a transaction.
    public func pipelined(_ statements: [SQL]) throws -> [Result<QueryResult, PostgresError>] {
        try withSession { try $0.executePipelined(statements) }
    }

    /// `pipelined`, attending to `wait` while the server works: its handler runs whenever its
    /// descriptor becomes readable, so the caller's own work overlaps the round trip.
    public func pipelined(_ statements: [SQL], wait: PipelineWait) throws -> [Result<QueryResult, PostgresError>] {
        try withSession { try $0.executePipelined(statements, wait: wait) }
    }

    /// True inside `transaction` or a hand-written BEGIN: statements run now commit with it.
    public var isInTransaction: Bool {
        withSession { $0.inTransaction }
    }

    /// Runs a multi-statement script through the simple query protocol. The only entry point
    /// that takes raw text, hence the name: never pass it data from outside the program.
    public func unsafeExecuteScript(_ script: String) throws {
        _ = try withSession { try $0.executeSimple(script) }
    }

    /// Runs `body` inside BEGIN/COMMIT, rolling back and rethrowing if it throws. Nested calls
    /// use savepoints, so an inner failure can be caught without losing the outer work.
    ///
    /// If `body` catches a statement error and returns normally, the server has already
    /// aborted the transaction; COMMIT then rolls back and this throws rather than pretend.
    ///
    /// The lock is held per statement, not for the whole transaction: only the thread that
    /// called `transaction` may use the connection until it returns.
    @discardableResult
    public func transaction<T>(_ body: (Connection) throws -> T) throws -> T {
        let level = try withSession { try $0.begin() }
        let value: T
        do {
            value = try body(self)
        } catch {
            withSession { $0.rollback(level: level) }
            throw error
        }
        try withSession { try $0.commit(level: level) }
        return value
    }

    /// True if the last known status is CONNECTION_OK. A connection that died while idle
    /// still reads true until the next call notices.
    public var isConnected: Bool { lastStatusOK.load(ordering: .relaxed) }

    /// The server process serving this connection (PQbackendPID); changes on reconnect.
    public var backendPID: Int32 { lastBackendPID.load(ordering: .relaxed) }

    /// Reconnects now (PQreset) and restores session settings and LISTENs.
    /// Not allowed inside a transaction, whose work the reconnect would silently drop.
    public func reconnect() throws {
        try withSession { session in
            guard !session.inTransaction else {
                throw PostgresError(.connection, message: "reconnect() called inside a transaction")
            }
            try session.reset()
        }
    }

    /// Runs `body` under the lock, then refreshes the lock-free status mirrors.
    func withSession<R: Sendable>(_ body: (inout Session) throws -> R) throws -> R {
        try session.withLock { session in
            defer {
                lastStatusOK.store(session.isConnectionOK, ordering: .relaxed)
                lastBackendPID.store(PQbackendPID(session.conn), ordering: .relaxed)
            }
            return try body(&session)
        }
    }

    func withSession<R: Sendable>(_ body: (inout Session) -> R) -> R {
        session.withLock { session in
            defer {
                lastStatusOK.store(session.isConnectionOK, ordering: .relaxed)
                lastBackendPID.store(PQbackendPID(session.conn), ordering: .relaxed)
            }
            return body(&session)
        }
    }
}

extension Session {
    private static func savepoint(_ level: Int) -> String { "conveyor_savepoint_\(level)" }

    /// BEGIN (or a SAVEPOINT when nested); returns the new depth, which identifies the level.
    mutating func begin() throws -> Int {
        if transactionDepth == 0 {
            _ = try executeSimple("BEGIN")
        } else {
            _ = try executeSimple("SAVEPOINT \(Self.savepoint(transactionDepth))")
        }
        transactionDepth += 1
        return transactionDepth
    }

    mutating func commit(level: Int) throws {
        precondition(level == transactionDepth, "transactions on one Connection must nest strictly")
        if level == 1 {
            // Depth drops only after COMMIT went out, so COMMIT itself never triggers a reconnect.
            defer { transactionDepth = 0 }
            let result = try executeSimple("COMMIT")
            if result.commandTag == "ROLLBACK" {
                throw PostgresError(
                    .query,
                    message: "transaction was rolled back at COMMIT because a statement in it failed (its error was caught)")
            }
        } else {
            defer { transactionDepth = level - 1 }
            let name = Self.savepoint(level - 1)
            do {
                _ = try executeSimple("RELEASE SAVEPOINT \(name)")
            } catch {
                // Typically the savepoint's work failed and the error was caught: undo it so
                // the outer transaction remains usable, then report.
                _ = try? executeSimple("ROLLBACK TO SAVEPOINT \(name); RELEASE SAVEPOINT \(name)")
                throw error
            }
        }
    }

    /// Best effort: if the connection is gone, the server has rolled back already.
    mutating func rollback(level: Int) {
        precondition(level == transactionDepth, "transactions on one Connection must nest strictly")
        if level == 1 {
            defer { transactionDepth = 0 }
            _ = try? executeSimple("ROLLBACK")
        } else {
            defer { transactionDepth = level - 1 }
            let name = Self.savepoint(level - 1)
            _ = try? executeSimple("ROLLBACK TO SAVEPOINT \(name); RELEASE SAVEPOINT \(name)")
        }
    }
}
