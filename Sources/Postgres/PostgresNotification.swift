import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A NOTIFY received on a channel this connection listens on.
public struct PostgresNotification: Sendable, Equatable {
    /// The channel name.
    public let channel: String
    /// The payload ("" when none was given).
    public let payload: String
    /// The server process that sent it.
    public let pid: Int32

    public init(channel: String, payload: String, pid: Int32) {
        self.channel = channel
        self.payload = payload
        self.pid = pid
    }
}

extension Connection {
    /// Starts listening on `channel` (quoted as an identifier, so any text is safe).
    /// The LISTEN is repeated automatically after a reconnect.
    public func listen(_ channel: String) throws {
        try withSession { session in
            guard !session.pooled else {
                throw PostgresError(.configuration, message:
                    "LISTEN needs a session of its own, which a transaction pooler does not keep: set CONVEYOR_LISTEN_DATABASE_URL to a direct connection")
            }
            let quoted = try session.quoteIdentifier(channel)
            _ = try session.executeSimple("LISTEN \(quoted)")
            if !session.listening.contains(channel) { session.listening.append(channel) }
        }
    }

    /// Stops listening on `channel`.
    public func unlisten(_ channel: String) throws {
        try withSession { session in
            let quoted = try session.quoteIdentifier(channel)
            _ = try session.executeSimple("UNLISTEN \(quoted)")
            session.listening.removeAll { $0 == channel }
        }
    }

    /// Sends a notification with `pg_notify`; channel and payload are bind parameters.
    /// Inside a transaction it is delivered at COMMIT (and dropped on rollback).
    public func notify(_ channel: String, payload: String = "") throws {
        try query("SELECT pg_notify(\(channel), \(payload))")
    }

    /// Waits up to `timeout` seconds for notifications and returns what arrived (possibly
    /// nothing). Returns as soon as at least one is available, including ones that arrived
    /// during earlier statements.
    ///
    /// Throws `PostgresError(.connection)` when it finds the connection dropped, because
    /// notifications sent meanwhile are lost and the caller should re-check whatever they
    /// signal. The next call reconnects and re-LISTENs.
    public func waitForNotifications(timeout: Double) throws -> [PostgresNotification] {
        try withSession { session in try session.waitForNotifications(timeout: timeout, wakeFD: nil) }
    }

    /// `waitForNotifications`, also returning (with whatever arrived, possibly nothing) as soon as
    /// `wakeFD` becomes readable: a caller waiting on its own work and on the database at once.
    public func waitForNotifications(timeout: Double, wakeFD: Int32) throws -> [PostgresNotification] {
        try withSession { session in try session.waitForNotifications(timeout: timeout, wakeFD: wakeFD) }
    }
}

extension Session {
    mutating func waitForNotifications(timeout: Double, wakeFD: Int32?) throws -> [PostgresNotification] {
        if needsReset && !inTransaction {
            // The caller was already told about the break (a statement or wait threw).
            try reset()
        } else if !connectionLooksAlive() {
            needsReset = true
            serverInTransaction = false
            throw PostgresError(.connection, message: errorMessage())
        }
        // A notification can arrive in the same read as a statement's result and sit unparsed
        // in libpq's buffer, where poll() on the socket would never see it.
        drainNotifications()
        if !notifications.isEmpty { return takeNotifications() }

        let clock = ContinuousClock()
        let deadline = clock.now + .microseconds(Int64((max(0, timeout) * 1_000_000).rounded()))
        while true {
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { return [] }
            let (seconds, attoseconds) = remaining.components
            // Round up so a tiny remainder still waits instead of spinning.
            let millis = min(Int64(Int32.max), seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            var descriptors = [pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0),
                               pollfd(fd: wakeFD ?? -1, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&descriptors, wakeFD == nil ? 1 : 2, Int32(millis))
            if ready < 0 {
                if errno == EINTR { continue }
                throw PostgresError(.connection, message: "poll failed: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }
            if descriptors[1].revents != 0 && descriptors[0].revents == 0 { return [] }
            let consumed = PQconsumeInput(conn)
            drainNotifications()
            if consumed == 0 || !isConnectionOK || notices.fatalSeen {
                needsReset = true
                serverInTransaction = false
                throw PostgresError(.connection, message: errorMessage())
            }
            if !notifications.isEmpty { return takeNotifications() }
        }
    }
}
