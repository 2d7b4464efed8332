import FoundationEssentials
import Postgres

extension PostgresJobStore {
    /// Every configured queue, by name.
    public func queueSettings() throws -> [QueueSettings] {
        try connection.query("SELECT \(Self.queueColumns) FROM conveyor_queues ORDER BY name").map(QueueSettings.init(row:))
    }

    /// One queue's settings, or nil when it has none (it is then unlimited and unpaused).
    public func queueSettings(named name: String) throws -> QueueSettings? {
        try connection.query("SELECT \(Self.queueColumns) FROM conveyor_queues WHERE name = \(name)").first.map(QueueSettings.init(row:))
    }

    /// Changes one queue's settings from a JSON patch, under the queue's row lock so concurrent
    /// updates never lose each other's fields. `replacing` starts from the defaults (PUT);
    /// otherwise fields absent from `patch` keep their value (POST, and `deploy/queues.json`).
    /// A patch that changes nothing writes nothing. Validation errors are `invalidInput`.
    @discardableResult
    public func updateQueue(named name: String, replacing: Bool, with patch: JSONValue) throws -> QueueUpdate {
        guard JobRequest.isValidQueueName(name) else {
            throw JobQueueError.invalid("name", "must be 1 to 64 characters of a-z, 0-9, '_', '-' or '.', starting with a letter or digit")
        }
        return try connection.transaction { connection in
            let created = try connection.execute("INSERT INTO conveyor_queues (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING") == 1
            guard let row = try connection.query("SELECT \(Self.queueColumns) FROM conveyor_queues WHERE name = \(name) FOR UPDATE").first else {
                throw JobQueueError(.conflict, "queue \(name) was removed while being updated; retry")
            }
            let before = try QueueSettings(row: row)
            var after = replacing ? QueueSettings(name: name) : before
            after.updatedAt = before.updatedAt
            try after.apply(patch)
            guard created || after != before else { return QueueUpdate(settings: before, created: false, changed: false) }
            let saved = try connection.query("""
                UPDATE conveyor_queues SET
                    concurrency = \(after.concurrency), rate_limit = \(after.rateLimit?.limit),
                    rate_period_seconds = \(after.rateLimit?.periodSeconds), paused = \(after.paused),
                    org_concurrency = \(after.perOrg.concurrency), org_rate_limit = \(after.perOrg.rateLimit?.limit),
                    org_rate_period_seconds = \(after.perOrg.rateLimit?.periodSeconds),
                    flow_concurrency = \(after.perFlowKey.concurrency), flow_rate_limit = \(after.perFlowKey.rateLimit?.limit),
                    flow_rate_period_seconds = \(after.perFlowKey.rateLimit?.periodSeconds),
                    max_attempts = \(after.maxAttempts)::smallint, backoff_base_seconds = \(after.backoff?.baseSeconds),
                    backoff_cap_seconds = \(after.backoff?.capSeconds),
                    completed_retention_seconds = \(after.retention.completedSeconds),
                    dead_retention_seconds = \(after.retention.deadSeconds), updated_at = now()
                WHERE name = \(name)
                RETURNING \(Self.queueColumns)
                """)
            return QueueUpdate(settings: try QueueSettings(row: saved[0]), created: created, changed: true)
        }
    }

    /// Applies `deploy/queues.json` (see `QueueSettings.parseFile`): a partial update per entry.
    /// Returns the names of the queues it created or changed; applying it again returns none.
    @discardableResult
    public func applyQueueFile(_ data: Data) throws -> [String] {
        try QueueSettings.parseFile(data).compactMap { entry in
            try updateQueue(named: entry.name, replacing: false, with: entry.patch).changed ? entry.name : nil
        }
    }

    /// Retry policies of the queues that set a default, for kinds that declare none.
    public func queueRetryPolicies() throws -> [String: RetryPolicy] {
        var policies: [String: RetryPolicy] = [:]
        for settings in try connection.query("""
            SELECT \(Self.queueColumns) FROM conveyor_queues WHERE max_attempts IS NOT NULL OR backoff_base_seconds IS NOT NULL
            """).map(QueueSettings.init(row:)) {
            policies[settings.name] = settings.retryPolicy
        }
        return policies
    }

    static let queueColumns: SQL = """
        name, concurrency, rate_limit, rate_period_seconds, paused, max_attempts, backoff_base_seconds, backoff_cap_seconds, \
        completed_retention_seconds, dead_retention_seconds, updated_at, org_concurrency, org_rate_limit, org_rate_period_seconds, \
        flow_concurrency, flow_rate_limit, flow_rate_period_seconds
        """
}

/// What `updateQueue` did.
public struct QueueUpdate: Sendable, Equatable {
    /// The settings as stored now.
    public var settings: QueueSettings
    /// True when the queue had no settings before.
    public var created: Bool
    /// False when the patch matched what was stored, and nothing was written.
    public var changed: Bool
}

extension QueueSettings {
    init(row: Row) throws {
        self.init(name: try row.decode("name"))
        concurrency = try row.decodeIfPresent("concurrency")
        if let limit = try row.decodeIfPresent("rate_limit", as: Int.self) {
            rateLimit = RateLimit(limit: limit, periodSeconds: try row.decode("rate_period_seconds"))
        }
        paused = try row.decode("paused")
        perOrg.concurrency = try row.decodeIfPresent("org_concurrency")
        if let limit = try row.decodeIfPresent("org_rate_limit", as: Int.self) {
            perOrg.rateLimit = RateLimit(limit: limit, periodSeconds: try row.decode("org_rate_period_seconds"))
        }
        perFlowKey.concurrency = try row.decodeIfPresent("flow_concurrency")
        if let limit = try row.decodeIfPresent("flow_rate_limit", as: Int.self) {
            perFlowKey.rateLimit = RateLimit(limit: limit, periodSeconds: try row.decode("flow_rate_period_seconds"))
        }
        maxAttempts = try row.decodeIfPresent("max_attempts")
        if let base = try row.decodeIfPresent("backoff_base_seconds", as: Double.self) {
            backoff = Backoff(baseSeconds: base, capSeconds: try row.decode("backoff_cap_seconds"))
        }
        retention = Retention(completedSeconds: try row.decodeIfPresent("completed_retention_seconds"),
                              deadSeconds: try row.decodeIfPresent("dead_retention_seconds"))
        updatedAt = try row.decodeIfPresent("updated_at")
    }
}
