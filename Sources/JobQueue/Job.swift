import FoundationEssentials
import Postgres

/// A job as job-status shows it: its state, its attempts and its whole history.
public struct Job: Sendable, Equatable {
    public var id: Int64
    public var orgId: Int64
    public var queue: String
    public var kind: String
    public var state: JobState
    public var priority: Int
    public var attempt: Int
    public var maxAttempts: Int
    public var runAt: Date
    /// The payload; nil in list pages, which leave payloads out to stay small.
    public var payload: JSONValue?
    public var result: JSONValue?
    public var errors: [JobErrorEntry]
    public var progress: JobProgress?
    public var idempotencyKey: String?
    public var durationMs: Int?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
}

/// The latest progress a running job reported.
public struct JobProgress: Sendable, Equatable, Codable {
    public var percent: Int
    public var message: String?

    public init(percent: Int, message: String?) {
        self.percent = percent
        self.message = message
    }
}

/// One failed attempt, as kept in the job's `errors` history.
public struct JobErrorEntry: Sendable, Equatable, Codable {
    public var attempt: Int
    public var at: Date
    public var message: String
    public var durationMs: Int?
    /// True when the attempt was cut short by an expired lease rather than by the job itself.
    public var rescued: Bool?
}

/// A job claimed by one process-batch invocation, ready to run.
public struct ClaimedJob: Sendable, Equatable {
    public var id: Int64
    public var orgId: Int64
    public var queue: String
    public var kind: String
    public var priority: Int
    public var runAt: Date
    /// 1-based number of this attempt.
    public var attempt: Int
    public var maxAttempts: Int
    /// The payload exactly as stored: handed to the handler without a decode/encode round trip.
    public var payload: PostgresJSON
    /// The attempt's time limit as stored with the job, in milliseconds.
    public var timeoutMs: Int
    /// How long the claim holds the job, in milliseconds: at least its timeout and a margin.
    public var leaseMs: Int
    /// Milliseconds between the job becoming due and its claim.
    public var waitMs: Int
    /// The key the job was enqueued with, for a target to deduplicate by.
    public var idempotencyKey: String?
    /// The W3C trace context the job was enqueued under.
    public var traceparent: String?

    public init(id: Int64, orgId: Int64, queue: String, kind: String, priority: Int, runAt: Date, attempt: Int, maxAttempts: Int,
                payload: PostgresJSON, timeoutMs: Int = JobKinds.defaultTimeoutMs, leaseMs: Int = 60_000, waitMs: Int = 0,
                idempotencyKey: String? = nil, traceparent: String? = nil) {
        self.id = id
        self.orgId = orgId
        self.queue = queue
        self.kind = kind
        self.priority = priority
        self.runAt = runAt
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.payload = payload
        self.timeoutMs = timeoutMs
        self.idempotencyKey = idempotencyKey
        self.traceparent = traceparent
        self.leaseMs = leaseMs
        self.waitMs = waitMs
    }

    /// True when this attempt is the job's last.
    public var isLastAttempt: Bool { attempt >= maxAttempts }
}

extension Job {
    /// The columns `init(row:)` reads, for SELECT lists.
    static let columns: SQL = """
        id, org_id, queue, kind, state::text AS state, priority, attempt, max_attempts, run_at, payload, result, errors, \
        progress, progress_message, idempotency_key, duration_ms, created_at, started_at, finished_at
        """

    init(row: Row) throws {
        let decoder = JSONDecoder.conveyor
        id = try row.decode("id")
        orgId = try row.decode("org_id")
        queue = try row.decode("queue")
        kind = try row.decode("kind")
        let stateText: String = try row.decode("state")
        guard let state = JobState(rawValue: stateText) else {
            throw PostgresError(.decoding, message: "unknown job state \(stateText)")
        }
        self.state = state
        priority = try row.decode("priority")
        attempt = try row.decode("attempt")
        maxAttempts = try row.decode("max_attempts")
        runAt = try row.decode("run_at")
        payload = try row.decodeIfPresent("payload", as: PostgresJSON.self).map { try JSONValue.parse($0.text) }
        result = try row.decodeIfPresent("result", as: PostgresJSON.self).map { try JSONValue.parse($0.text) }
        errors = try decoder.decode([JobErrorEntry].self, from: Data(try row.decode("errors", as: PostgresJSON.self).text.utf8))
        if let percent = try row.decodeIfPresent("progress", as: Int.self) {
            progress = JobProgress(percent: percent, message: try row.decodeIfPresent("progress_message"))
        } else {
            progress = nil
        }
        idempotencyKey = try row.decodeIfPresent("idempotency_key")
        durationMs = try row.decodeIfPresent("duration_ms")
        createdAt = try row.decode("created_at")
        startedAt = try row.decodeIfPresent("started_at")
        finishedAt = try row.decodeIfPresent("finished_at")
    }
}

extension JSONDecoder {
    /// Decodes the engine's JSON: dates are RFC 3339, with or without fractional seconds.
    public static var conveyor: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected an RFC 3339 timestamp such as 2026-01-31T09:30:00Z")
            }
            return date
        }
        return d
    }
}

extension JSONEncoder {
    /// Encodes the engine's JSON: RFC 3339 dates with milliseconds, and unescaped slashes.
    public static var conveyor: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamp.format(date))
        }
        return e
    }
}
