import CLibPQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Something else to attend to while a pipeline waits for the server: a descriptor to watch and
/// what to do when it becomes readable. The handler runs on the waiting thread with the
/// connection's lock held, so it must not use the connection; it is for work that overlaps the
/// round trip, such as collecting what other threads finished meanwhile.
public struct PipelineWait {
    public var fd: Int32
    public var onReadable: () -> Void

    public init(fd: Int32, onReadable: @escaping () -> Void) {
        self.fd = fd
        self.onReadable = onReadable
    }
}

extension Session {
    /// Runs `statements` as separate implicit transactions, in order, in one round trip (libpq
    /// pipeline mode with a Sync after each). Each statement commits or fails on its own; a
    /// failure does not stop the ones after it. Only outside a transaction: inside one there is
    /// nothing to gain and a failure would leave the transaction in an unclear state.
    mutating func executePipelined(_ statements: [SQL], wait: PipelineWait? = nil) throws -> [Result<QueryResult, PostgresError>] {
        guard !inTransaction else {
            throw PostgresError(.query, message: "a pipeline of separate transactions cannot run inside a transaction")
        }
        for sql in statements where sql.text.utf8.contains(0) {
            throw PostgresError(.encoding, message: "statement text contains a NUL byte")
        }
        if pooled {
            // A transaction pooler may hand the next statement to another server connection
            // while the previous one's answer is in flight: one at a time instead.
            return try statements.map { sql in
                do {
                    return .success(try execute(sql))
                } catch let error as PostgresError where error.code != .connection {
                    return .failure(error)
                }
            }
        }
        try prepareToSend()
        // Prepared before entering the pipeline: PQprepare waits for its answer, which pipeline
        // mode does not allow. Once per statement text and connection.
        let names = try statements.map { try preparedName(for: $0.text, parameterCount: $0.binds.count) }
        guard PQenterPipelineMode(conn) == 1 else { throw failure(from: nil) }
        defer { leavePipeline() }

        for (sql, name) in zip(statements, names) {
            let binds = sql.binds
            let conn = self.conn
            let sent = try LibPQStrings.withBinds(binds) { values in
                PQsendQueryPrepared(conn, name, Int32(binds.count), values, nil, nil, 0)
            }
            // The Sync ends the statement's implicit transaction and (libpq 15) flushes it, so the
            // server starts on it while the next one is still being written.
            guard sent == 1, PQpipelineSync(conn) == 1 else { throw connectionBroke() }
        }

        var results: [Result<QueryResult, PostgresError>] = []
        results.reserveCapacity(statements.count)
        for _ in statements {
            results.append(try readPipelinedResult(wait: wait))
        }
        // Someone ran DEALLOCATE or DISCARD on this session: the next call prepares afresh.
        // (Nothing is rerun here: the statements that did run have committed.)
        if results.contains(where: { if case .failure(let e) = $0 { e.sqlState == "26000" } else { false } }) {
            prepared.removeAll()
        }
        return results
    }

    /// One statement's answer: its result, the NULL that ends it, then the Sync's marker. A
    /// statement that failed ends at the Sync too (its transaction is rolled back there).
    private mutating func readPipelinedResult(wait: PipelineWait?) throws -> Result<QueryResult, PostgresError> {
        var outcome: Result<QueryResult, PostgresError>?
        while true {
            if let wait { try awaitInput(servicing: wait) }
            guard let result = PQgetResult(conn) else {
                guard isConnectionOK else { throw connectionBroke() }
                continue  // the end of one statement's results; the Sync marker follows
            }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC {
                PQclear(result)
                return outcome ?? .failure(PostgresError(.query, message: "the server answered a pipelined statement with nothing"))
            }
            if outcome == nil {
                do {
                    outcome = .success(try finish(result))  // finish frees the result
                } catch let error as PostgresError {
                    outcome = .failure(error)
                }
            } else {
                PQclear(result)
            }
            guard isConnectionOK else { throw connectionBroke() }
        }
    }

    /// Waits until PQgetResult would not block, running `wait`'s handler whenever its descriptor
    /// becomes readable meanwhile.
    private mutating func awaitInput(servicing wait: PipelineWait) throws {
        while PQisBusy(conn) == 1 {
            var fds = [pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wait.fd, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                throw PostgresError(.connection, message: "poll failed: \(String(cString: strerror(errno)))")
            }
            if fds[1].revents != 0 { wait.onReadable() }
            if fds[0].revents != 0 {
                guard PQconsumeInput(conn) == 1 else { throw connectionBroke() }
            }
        }
    }

    private mutating func connectionBroke() -> PostgresError {
        needsReset = true
        return PostgresError(.connection, message: errorMessage())
    }

    /// Back to normal mode. Exiting fails while results are unread, so on an early exit the
    /// connection is marked for a reset rather than reused half-read.
    private mutating func leavePipeline() {
        if PQexitPipelineMode(conn) != 1 {
            needsReset = true
        }
    }
}
