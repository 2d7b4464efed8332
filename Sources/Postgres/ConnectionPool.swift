import Synchronization

/// Connections for work that runs beside a worker's own connection (jobs running at once, each
/// needing a session of its own for its transactions). Opened on demand, kept for reuse up to
/// `maxIdle`, never more than `maxOpen` at once.
public final class ConnectionPool: Sendable {
    public let url: String
    public let applicationName: String
    public let maxIdle: Int
    public let maxOpen: Int
    /// The schema of every connection the pool opens; nil means `CONVEYOR_SCHEMA`'s.
    public let schema: DatabaseSchema?
    /// The pooler between them and the server; nil means `CONVEYOR_DATABASE_POOLER`'s.
    public let pooler: DatabasePooler?
    private struct State {
        var idle: [Connection] = []
        var open = 0
    }
    private let state = Mutex(State())

    public init(url: String, applicationName: String = "conveyor-jobs", maxIdle: Int = 4, maxOpen: Int = 64,
                schema: DatabaseSchema? = nil, pooler: DatabasePooler? = nil) {
        self.url = url
        self.schema = schema
        self.pooler = pooler
        self.applicationName = applicationName
        self.maxIdle = max(0, maxIdle)
        self.maxOpen = max(1, maxOpen)
    }

    /// An idle connection, or a new one. Throws `PostgresError(.connection)` when the server
    /// cannot be reached, or when `maxOpen` connections are out already.
    public func checkout() throws -> Connection {
        let reused = state.withLock { s -> Connection?? in
            if let c = s.idle.popLast() { return .some(c) }
            guard s.open < maxOpen else { return .none }
            s.open += 1
            return .some(nil)
        }
        switch reused {
        case .none:
            throw PostgresError(.connection, message: "all \(maxOpen) connections of the pool are in use")
        case .some(let c?):
            return c
        case .some(nil):
            do {
                return try Connection(url: url, applicationName: applicationName, schema: schema, pooler: pooler)
            } catch {
                state.withLock { $0.open -= 1 }
                throw error
            }
        }
    }

    /// Gives a connection back; one left inside a transaction, or broken, is closed instead.
    public func checkin(_ connection: Connection) {
        let keep = !connection.isInTransaction && connection.isConnected
        state.withLock { s in
            if keep && s.idle.count < maxIdle {
                s.idle.append(connection)
            } else {
                s.open -= 1
            }
        }
    }
}
