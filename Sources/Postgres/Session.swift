import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The libpq connection and the bookkeeping that must change together with it. Lives inside
/// `Connection`'s mutex, so every method here runs with the lock held.
struct Session {
    let conn: OpaquePointer
    /// The schema this session's statements find their tables in (its whole `search_path`).
    let schema: DatabaseSchema
    /// Behind a transaction-mode pooler: no prepared statements, no session settings of ours.
    let pooled: Bool
    /// Depth of `Connection.transaction` calls: 1 = BEGIN, 2+ = savepoints.
    var transactionDepth = 0
    /// The server was inside a transaction after the last statement (PQtransactionStatus).
    /// Catches a hand-written BEGIN, which must be as safe from silent reconnects as ours.
    var serverInTransaction = false
    /// A statement failed because the connection broke; the next call outside a transaction
    /// reconnects instead of sending on the dead socket.
    var needsReset = false
    /// Channels to LISTEN on again after a reconnect, in the order they were added.
    var listening: [String] = []
    /// Notifications pulled off the socket but not yet handed out.
    var notifications: [PostgresNotification] = []
    /// Fed by libpq's notice receiver; shared by reference so the C callback can reach it.
    let notices = NoticeMonitor()
    /// Server-side prepared statements by text: a statement seen before skips parse and plan.
    var prepared: [String: String] = [:]
    /// Bounds the cache for programs that build many distinct statements.
    static let preparedLimit = 512
    /// Numbers statement names; never reused on this connection, so a name cannot collide with a
    /// statement the server still holds after a partial DEALLOCATE.
    var preparedSerial = 0
    /// The time bounds the caller wants for the statements it sends next; nil leaves the
    /// server's. Applied lazily, outside a transaction, only when they change.
    var wantedTimeouts: TimeBounds?
    /// The time bounds this backend runs under, as far as we set them; nil after a reconnect.
    var appliedTimeouts: TimeBounds?

    init(conn: OpaquePointer, schema: DatabaseSchema, pooled: Bool = false) {
        self.conn = conn
        self.schema = schema
        self.pooled = pooled
        notices.install(on: conn)
    }

    var inTransaction: Bool { transactionDepth > 0 || serverInTransaction }
    var isConnectionOK: Bool { PQstatus(conn) == CONNECTION_OK }

    // MARK: Connecting

    /// Opens the connection. The URL (or conninfo) goes in as `dbname` with expansion on,
    /// so it may set anything; `application_name` and `client_encoding` come after it and win.
    /// Defaults that come before `dbname`, so the URL may override any of them: a server that
    /// does not answer costs 5 s, not the kernel's minutes, and a peer that vanishes (a pulled
    /// cable, a failover) is noticed within about a minute by TCP keepalives and the user timeout.
    static let connectDefaults: [(String, String)] = [
        ("connect_timeout", "5"), ("keepalives", "1"), ("keepalives_idle", "30"),
        ("keepalives_interval", "10"), ("keepalives_count", "3"), ("tcp_user_timeout", "60000"),
    ]

    static func connect(url: String, applicationName: String, database: String? = nil) throws -> OpaquePointer {
        // Only the first dbname is expanded as a URL; a second one overrides the URL's database.
        let keywords = connectDefaults.map(\.0) + ["dbname", "application_name", "client_encoding"] + (database == nil ? [] : ["dbname"])
        let given = connectDefaults.map(\.1) + [url, applicationName, "UTF8"] + (database.map { [$0] } ?? [])
        let conn = LibPQStrings.withArray(keywords) { keywords in
            LibPQStrings.withArray(given) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let conn else {
            throw PostgresError(.connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn))
            PQfinish(conn)
            throw PostgresError(.connection, message: message)
        }
        return conn
    }

    /// Session settings every connection (and every reconnect) starts with, plus the
    /// LISTENs that a reconnect would otherwise silently drop. The schema is the whole search
    /// path: `pg_catalog` is searched first anyway, and leaving `public` out means a table the
    /// application keeps there under one of our names can never be mistaken for ours.
    mutating func setUpSession() throws {
        // Behind a transaction pooler the SET would stay on one server connection (another client
        // of the pool gets it next) and hide a role without the right default: the role's applies.
        var script = "SET TimeZone='UTC'; SET DateStyle='ISO';" + (pooled ? "" : " SET search_path = \(schema.name);")
        for channel in listening {
            script += " LISTEN \(try quoteIdentifier(channel));"
        }
        _ = try finish(PQexec(conn, script))
    }

    /// PQreset, then session setup. Notifications already received are kept.
    mutating func reset() throws {
        drainNotifications()
        PQreset(conn)
        // A new backend knows none of the old one's prepared statements.
        prepared.removeAll()
        appliedTimeouts = nil
        notices.fatalSeen = false
        serverInTransaction = false
        guard isConnectionOK else {
            needsReset = true
            throw PostgresError(.connection, message: errorMessage())
        }
        needsReset = false
        do {
            try setUpSession()
        } catch {
            needsReset = true
            throw error
        }
    }

    /// Makes sure a statement may be sent. Outside a transaction a connection that died while
    /// idle (server restart, terminated backend) is replaced; inside one nothing is replaced,
    /// so a broken connection surfaces as an error rather than as a half-lost transaction.
    mutating func prepareToSend() throws {
        if inTransaction { return }
        if needsReset || !connectionLooksAlive() {
            try reset()
        }
        // Behind a transaction pooler a SET would outlive our transaction on a server connection
        // another client gets next: the role's bounds apply instead.
        if !pooled, let wanted = wantedTimeouts, !(appliedTimeouts.map { $0.covers(wanted) } ?? false) {
            _ = try finish(PQexec(conn, "SET statement_timeout = \(wanted.statementMs); SET lock_timeout = \(wanted.lockMs)"))
            appliedTimeouts = wanted
        }
    }

    /// Non-blocking check for a connection that died while idle: whatever is readable (a
    /// FATAL message, EOF, notifications) is consumed; libpq marks the connection bad at EOF.
    mutating func connectionLooksAlive() -> Bool {
        // Bounded so a stream of notifications cannot keep us here.
        for _ in 0..<16 {
            guard isConnectionOK else { return false }
            let socket = PQsocket(conn)
            guard socket >= 0 else { return false }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 0)
            if ready == 0 { return true }
            if ready < 0 {
                if errno == EINTR { continue }
                return true  // can't tell; the statement itself will report a dead socket
            }
            let consumed = PQconsumeInput(conn)
            drainNotifications()  // also makes libpq parse the input, reporting any FATAL
            if consumed == 0 || notices.fatalSeen { return false }
        }
        return isConnectionOK && !notices.fatalSeen
    }

    // MARK: Statements

    /// One statement through the extended protocol with text-format parameters.
    mutating func execute(_ sql: SQL) throws -> QueryResult {
        let text = sql.text
        if text.utf8.contains(0) {
            throw PostgresError(.encoding, message: "statement text contains a NUL byte")
        }
        let binds = sql.binds
        try prepareToSend()
        let conn = self.conn
        if pooled {
            // Unnamed: parse, bind and execute travel together, so any server connection will do.
            let result = try LibPQStrings.withBinds(binds) { values in
                PQexecParams(conn, text, Int32(binds.count), nil, values, nil, nil, 0)
            }
            return try finish(result)
        }
        let name = try preparedName(for: text, parameterCount: binds.count)
        let result = try LibPQStrings.withBinds(binds) { values in
            PQexecPrepared(conn, name, Int32(binds.count), values, nil, nil, 0)
        }
        do {
            return try finish(result)
        } catch let error as PostgresError where error.sqlState == "26000" {
            // Someone ran DEALLOCATE or DISCARD on this session: forget the cache, run it again.
            prepared.removeAll()
            return try execute(sql)
        }
    }

    /// The name of the server-side statement for `text`, preparing it on first use. Statements
    /// are the same few dozen texts over and over (bind parameters carry the values), so parsing
    /// and planning once per connection saves a good part of each short request's database time.
    mutating func preparedName(for text: String, parameterCount: Int) throws -> String {
        if let name = prepared[text] { return name }
        if prepared.count >= Self.preparedLimit {
            _ = try finish(PQexec(conn, "DEALLOCATE ALL"))
            prepared.removeAll()
        }
        preparedSerial += 1
        let name = "conveyor_\(preparedSerial)"
        _ = try finish(PQprepare(conn, name, text, Int32(parameterCount), nil))
        prepared[text] = name
        return name
    }

    /// Raw text through the simple query protocol (may hold several statements).
    mutating func executeSimple(_ text: String) throws -> QueryResult {
        if text.utf8.contains(0) {
            throw PostgresError(.encoding, message: "script text contains a NUL byte")
        }
        try prepareToSend()
        return try finish(PQexec(conn, text))
    }

    /// Turns a PGresult into a `QueryResult` or an error, and always frees it.
    mutating func finish(_ result: OpaquePointer?) throws -> QueryResult {
        defer { noteConnectionState() }
        guard let result else { throw failure(from: nil) }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return copyResult(result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            abandonCopy(PQresultStatus(result))
            throw PostgresError(.query, message: "COPY is not supported by this client")
        default:
            throw failure(from: result)
        }
    }

    private mutating func noteConnectionState() {
        if isConnectionOK {
            let status = PQtransactionStatus(conn)
            serverInTransaction = status == PQTRANS_INTRANS || status == PQTRANS_INERROR
        } else {
            // Whatever was in flight may or may not have committed: never retry it, but do
            // reconnect on the next call outside a transaction.
            serverInTransaction = false
            needsReset = true
        }
    }

    private func copyResult(_ result: OpaquePointer) -> QueryResult {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        let tag = String(cString: PQcmdStatus(result))
        guard columnCount > 0 else {
            return QueryResult(storage: .empty, affectedRows: affected, commandTag: tag)
        }
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(String(cString: PQfname(result, Int32(column))))
        }
        var values: [String?] = []
        values.reserveCapacity(rowCount * columnCount)
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                if PQgetisnull(result, row, column) != 0 {
                    values.append(nil)
                } else {
                    let bytes = UnsafeRawPointer(PQgetvalue(result, row, column)!)
                        .assumingMemoryBound(to: UInt8.self)
                    let length = Int(PQgetlength(result, row, column))
                    values.append(String(decoding: UnsafeBufferPointer(start: bytes, count: length), as: UTF8.self))
                }
            }
        }
        let storage = ResultStorage(columns: columns, values: values, rowCount: rowCount)
        return QueryResult(storage: storage, affectedRows: affected, commandTag: tag)
    }

    /// Leaves COPY mode so the connection stays usable after someone sent a COPY statement.
    private func abandonCopy(_ status: ExecStatusType) {
        if status == PGRES_COPY_IN {
            _ = PQputCopyEnd(conn, "COPY FROM STDIN is not supported by this client")
        } else if status == PGRES_COPY_OUT {
            var buffer: UnsafeMutablePointer<CChar>? = nil
            while PQgetCopyData(conn, &buffer, 0) > 0 {
                PQfreemem(buffer)
                buffer = nil
            }
        }
        while let pending = PQgetResult(conn) {
            PQclear(pending)
        }
    }

    /// The error of a failed statement. A broken connection makes it `.connection`,
    /// whatever the server said last.
    func failure(from result: OpaquePointer?) -> PostgresError {
        let code: PostgresError.Code = isConnectionOK ? .query : .connection
        guard let result else { return PostgresError(code, message: errorMessage()) }
        func field(_ name: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(name.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        var message = field("M") ?? String(cString: PQresultErrorMessage(result))
        if message.trimmingWhitespace().isEmpty { message = errorMessage() }
        return PostgresError(
            code, message: message, sqlState: field("C"), detail: field("D"), constraint: field("n"))
    }

    func errorMessage() -> String {
        let message = String(cString: PQerrorMessage(conn)).trimmingWhitespace()
        return message.isEmpty ? "connection to the server was lost" : message
    }

    func quoteIdentifier(_ identifier: String) throws -> String {
        guard let quoted = PQescapeIdentifier(conn, identifier, identifier.utf8.count) else {
            throw PostgresError(.encoding, message: errorMessage())
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }

    // MARK: Notifications

    mutating func drainNotifications() {
        while let notify = PQnotifies(conn) {
            notifications.append(
                PostgresNotification(
                    channel: String(cString: notify.pointee.relname),
                    payload: String(cString: notify.pointee.extra),
                    pid: notify.pointee.be_pid))
            PQfreemem(notify)
        }
    }

    mutating func takeNotifications() -> [PostgresNotification] {
        defer { notifications.removeAll() }
        return notifications
    }
}
