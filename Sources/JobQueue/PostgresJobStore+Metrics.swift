import FoundationEssentials
import Postgres

/// One queue's state and recent throughput, as `queue-metrics` reports it.
public struct QueueMetrics: Sendable, Equatable {
    /// Jobs ending in one minute.
    public struct Minute: Sendable, Equatable {
        public var start: Date
        public var completed: Int64
        public var failed: Int64
    }

    public var queue: String
    public var paused: Bool
    /// Due and waiting to be claimed.
    public var waiting: Int64 = 0
    /// Scheduled: `run_at` in the future (delayed, or waiting out a retry backoff).
    public var delayed: Int64 = 0
    public var active: Int64 = 0
    public var completed: Int64 = 0
    public var dead: Int64 = 0
    public var cancelled: Int64 = 0
    /// Seconds the longest-waiting due job has been due; nil when none waits.
    public var oldestWaitingSeconds: Double?
    /// The last 60 minutes, oldest first, the current minute last.
    public var minutes: [Minute] = []
    public var runTime = DurationHistogram()
    public var waitTime = DurationHistogram()

    public init(queue: String, paused: Bool = false) {
        self.queue = queue
        self.paused = paused
    }
}

extension PostgresJobStore {
    /// Every queue that has settings, jobs, or attempts in the last hour, by name.
    ///
    /// Reads live counts from the partial indexes of available and running jobs, and everything
    /// about finished jobs from the rollups of migration 150, so its cost does not grow with the
    /// number of finished jobs the table holds.
    public func queueMetrics() throws -> [QueueMetrics] {
        var byQueue: [String: QueueMetrics] = [:]
        func update(_ queue: String, _ change: (inout QueueMetrics) -> Void) {
            var m = byQueue[queue] ?? QueueMetrics(queue: queue)
            change(&m)
            byQueue[queue] = m
        }
        for row in try connection.query("SELECT name, paused FROM conveyor_queues") {
            let paused: Bool = try row.decode("paused")
            update(try row.decode("name")) { $0.paused = paused }
        }
        // One scan per partial index: a single `state IN (…)` could use none of them. A
        // scheduled job whose time has come but that no claim has staged yet is waiting too.
        for row in try connection.query("""
            SELECT queue, count(*) AS waiting, 0::bigint AS delayed, 0::bigint AS active,
                   extract(epoch FROM now() - min(run_at))::float8 AS oldest
            FROM conveyor_jobs WHERE state = 'available' GROUP BY queue
            UNION ALL
            SELECT queue, count(*) FILTER (WHERE run_at <= now()), count(*) FILTER (WHERE run_at > now()), 0,
                   extract(epoch FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float8
            FROM conveyor_jobs WHERE state = 'scheduled' GROUP BY queue
            UNION ALL
            SELECT queue, 0, 0, count(*), NULL FROM conveyor_jobs WHERE state = 'running' GROUP BY queue
            """) {
            let waiting: Int64 = try row.decode("waiting"), delayed: Int64 = try row.decode("delayed")
            let active: Int64 = try row.decode("active"), oldest: Double? = try row.decodeIfPresent("oldest")
            update(try row.decode("queue")) { m in
                m.waiting += waiting
                m.delayed += delayed
                m.active += active
                if let oldest { m.oldestWaitingSeconds = max(m.oldestWaitingSeconds ?? 0, max(oldest, 0)) }
            }
        }
        for row in try connection.query("""
            SELECT queue, state::text AS state, sum(jobs)::bigint AS jobs FROM conveyor_job_totals GROUP BY 1, 2 HAVING sum(jobs) <> 0
            """) {
            let state: String = try row.decode("state"), jobs: Int64 = try row.decode("jobs")
            update(try row.decode("queue")) { m in
                switch state {
                case "completed": m.completed = jobs
                case "dead": m.dead = jobs
                default: m.cancelled = jobs
                }
            }
        }
        let minuteRows = try connection.query("""
            SELECT queue, floor(extract(epoch FROM date_trunc('minute', now()) - minute) / 60)::int AS ago,
                   sum(completed)::bigint AS completed, sum(failed)::bigint AS failed
            FROM conveyor_job_minutes WHERE minute > date_trunc('minute', now()) - interval '60 minutes'
            GROUP BY 1, 2
            """)
        let current: Double = try connection.query("SELECT extract(epoch FROM date_trunc('minute', now()))::float8 AS m")[0].decode("m")
        var perMinute: [String: [Int: (Int64, Int64)]] = [:]
        for row in minuteRows {
            perMinute[try row.decode("queue"), default: [:]][try row.decode("ago")] = (try row.decode("completed"), try row.decode("failed"))
        }
        for row in try connection.query("""
            SELECT queue, measure::text AS measure, bucket, sum(jobs)::bigint AS jobs, sum(total_ms)::bigint AS total_ms
            FROM conveyor_job_timings WHERE minute > date_trunc('minute', now()) - interval '60 minutes'
            GROUP BY 1, 2, 3
            """) {
            let measure: String = try row.decode("measure"), bucket: Int = try row.decode("bucket")
            let jobs: Int64 = try row.decode("jobs"), total: Int64 = try row.decode("total_ms")
            update(try row.decode("queue")) { m in
                if measure == "r" { m.runTime.add(bucket: bucket, jobs: jobs, totalMs: total) } else { m.waitTime.add(bucket: bucket, jobs: jobs, totalMs: total) }
            }
        }
        for queue in perMinute.keys where byQueue[queue] == nil { update(queue) { _ in } }
        return byQueue.keys.sorted().map { name in
            var m = byQueue[name]!
            let seen = perMinute[name] ?? [:]
            m.minutes = (0..<60).reversed().map { ago in
                let (c, f) = seen[ago] ?? (0, 0)
                return QueueMetrics.Minute(start: Date(timeIntervalSince1970: current - Double(ago * 60)), completed: c, failed: f)
            }
            return m
        }
    }
}

/// The monotonic counters behind `GET /metrics`.
public struct ProcessingCounters: Sendable, Equatable {
    /// Attempts ended, by queue, kind and outcome (completed, retried, dead).
    public struct Outcome: Sendable, Equatable {
        public var queue: String
        public var kind: String
        public var outcome: String
        public var jobs: Int64

        public init(queue: String, kind: String, outcome: String, jobs: Int64) {
            self.queue = queue
            self.kind = kind
            self.outcome = outcome
            self.jobs = jobs
        }
    }

    /// Run times of one queue and kind, since the database was migrated.
    public struct RunTimes: Sendable, Equatable {
        public var queue: String
        public var kind: String
        public var histogram: DurationHistogram

        public init(queue: String, kind: String, histogram: DurationHistogram) {
            self.queue = queue
            self.kind = kind
            self.histogram = histogram
        }
    }

    /// How targets answered, by queue, kind and answer (`2xx`, `5xx`, `timeout`, `exit 75`, …).
    public struct Answer: Sendable, Equatable {
        public var queue: String
        public var kind: String
        public var answer: String
        public var jobs: Int64

        public init(queue: String, kind: String, answer: String, jobs: Int64) {
            self.queue = queue
            self.kind = kind
            self.answer = answer
            self.jobs = jobs
        }
    }

    public var outcomes: [Outcome] = []
    public var runTimes: [RunTimes] = []
    public var answers: [Answer] = []
    /// process-batch invocations counted with `countBatchInvocation()`.
    public var batchInvocations: Int64 = 0

    public init(outcomes: [Outcome] = [], runTimes: [RunTimes] = [], batchInvocations: Int64 = 0) {
        self.outcomes = outcomes
        self.runTimes = runTimes
        self.batchInvocations = batchInvocations
    }
}

extension PostgresJobStore {
    /// The counter name process-batch invocations are kept under.
    static let batchInvocationsCounter = "process_batch_invocations"

    /// Counts one process-batch invocation, for `conveyor_process_batch_invocations_total`.
    public func countBatchInvocation() throws {
        try connection.execute("""
            INSERT INTO conveyor_counters AS c (name, value) VALUES (\(Self.batchInvocationsCounter), 1)
            ON CONFLICT (name) DO UPDATE SET value = c.value + 1
            """)
    }

    /// Every monotonic counter, in label order: the sums of the delta rows.
    public func processingCounters() throws -> ProcessingCounters {
        var counters = ProcessingCounters()
        counters.outcomes = try connection.query("SELECT queue, kind, outcome, sum(jobs)::bigint AS jobs FROM conveyor_job_processed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3").map { row in
            ProcessingCounters.Outcome(queue: try row.decode("queue"), kind: try row.decode("kind"),
                                       outcome: try row.decode("outcome"), jobs: try row.decode("jobs"))
        }
        for row in try connection.query("SELECT queue, kind, bucket, sum(jobs)::bigint AS jobs, sum(total_ms)::bigint AS total_ms FROM conveyor_job_run_histogram GROUP BY 1, 2, 3 ORDER BY 1, 2, 3") {
            let queue: String = try row.decode("queue"), kind: String = try row.decode("kind")
            if counters.runTimes.last?.queue != queue || counters.runTimes.last?.kind != kind {
                counters.runTimes.append(.init(queue: queue, kind: kind, histogram: DurationHistogram()))
            }
            counters.runTimes[counters.runTimes.count - 1].histogram.add(bucket: try row.decode("bucket"), jobs: try row.decode("jobs"), totalMs: try row.decode("total_ms"))
        }
        counters.answers = try connection.query("""
            SELECT queue, kind, answer, sum(jobs)::bigint AS jobs FROM conveyor_job_answers GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            """).map { row in
            ProcessingCounters.Answer(queue: try row.decode("queue"), kind: try row.decode("kind"), answer: try row.decode("answer"),
                                      jobs: try row.decode("jobs"))
        }
        counters.batchInvocations = try connection.query("SELECT value FROM conveyor_counters WHERE name = \(Self.batchInvocationsCounter)").first?.decode("value") ?? 0
        return counters
    }
}
