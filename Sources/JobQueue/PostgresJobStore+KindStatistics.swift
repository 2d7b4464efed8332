import FoundationEssentials
import Postgres

/// One job kind's record: what its jobs are doing, how its attempts ended, why they failed, and
/// which ran slowest.
public struct KindStatistics: Sendable, Equatable {
    /// An error message and how often it was recorded in the window.
    public struct ErrorCount: Sendable, Equatable {
        public var message: String
        public var count: Int64
    }

    /// A finished job of the window that ran for at least `PostgresJobStore.slowJobMs`, with its run time.
    public struct SlowJob: Sendable, Equatable {
        public var id: Int64
        public var queue: String
        public var state: JobState
        public var durationMs: Int
        public var finishedAt: Date
    }

    public var kind: String
    /// Jobs in the table by state: scheduled, available, running and finished.
    public var states: [JobState: Int64] = [:]
    /// Attempts ever ended, by outcome: completed, retried, dead.
    public var outcomes: [String: Int64] = [:]
    public var topErrors: [ErrorCount] = []
    public var slowest: [SlowJob] = []

    public init(kind: String) { self.kind = kind }
}

extension PostgresJobStore {
    /// Jobs at least this slow are indexed for the slowest list (`conveyor_jobs_slow_by_kind`):
    /// faster ones are not worth an operator's look, nor an index entry on every completion.
    public static let slowJobMs = 100

    /// Statistics for every kind (or only `kind`), with the `top` most frequent error messages
    /// and the `top` slowest jobs that finished in the last `windowSeconds`.
    public func kindStatistics(kind: String? = nil, top: Int = 5, windowSeconds: Int = 86_400) throws -> [KindStatistics] {
        let kindFilter: SQL = kind.map { " AND kind = \($0)" } ?? ""
        var byKind: [String: KindStatistics] = [:]
        func update(_ kind: String, _ change: (inout KindStatistics) -> Void) {
            var s = byKind[kind] ?? KindStatistics(kind: kind)
            change(&s)
            byKind[kind] = s
        }
        for row in try connection.query("""
            SELECT kind, state::text AS state, count(*)::bigint AS jobs FROM conveyor_jobs WHERE state = 'available'\(kindFilter) GROUP BY 1, 2
            UNION ALL
            SELECT kind, state::text, count(*) FROM conveyor_jobs WHERE state = 'scheduled'\(kindFilter) GROUP BY 1, 2
            UNION ALL
            SELECT kind, state::text, count(*) FROM conveyor_jobs WHERE state = 'running'\(kindFilter) GROUP BY 1, 2
            UNION ALL
            SELECT kind, state::text, sum(jobs)::bigint FROM conveyor_job_totals WHERE true\(kindFilter) GROUP BY 1, 2 HAVING sum(jobs) <> 0
            """) {
            guard let state = JobState(rawValue: try row.decode("state")) else { continue }
            let jobs: Int64 = try row.decode("jobs")
            update(try row.decode("kind")) { $0.states[state, default: 0] += jobs }
        }
        for row in try connection.query("SELECT kind, outcome, sum(jobs)::bigint AS jobs FROM conveyor_job_processed WHERE true\(kindFilter) GROUP BY 1, 2") {
            let outcome: String = try row.decode("outcome"), jobs: Int64 = try row.decode("jobs")
            update(try row.decode("kind")) { $0.outcomes[outcome] = jobs }
        }
        if let kind, byKind[kind] == nil { byKind[kind] = KindStatistics(kind: kind) }
        let limit = min(max(top, 1), 100)
        for name in byKind.keys {
            // Errors of jobs that finished in the window, and of jobs still retrying. Messages
            // are grouped on their first 200 characters: the rest is usually an id or a dump.
            let errors = try connection.query("""
                SELECT left(e.value ->> 'message', 200) AS message, count(*)::bigint AS n
                FROM (SELECT errors FROM conveyor_jobs WHERE kind = \(name) AND state IN ('completed', 'dead', 'cancelled')
                        AND finished_at > now() - make_interval(secs => \(windowSeconds)) AND errors <> '[]'::jsonb
                      UNION ALL
                      SELECT errors FROM conveyor_jobs WHERE kind = \(name) AND state = 'available' AND errors <> '[]'
                      UNION ALL
                      SELECT errors FROM conveyor_jobs WHERE kind = \(name) AND state = 'scheduled' AND errors <> '[]'
                      UNION ALL
                      SELECT errors FROM conveyor_jobs WHERE kind = \(name) AND state = 'running' AND errors <> '[]') j,
                     jsonb_array_elements(j.errors) AS e
                WHERE (e.value ->> 'at')::timestamptz > now() - make_interval(secs => \(windowSeconds))
                GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT \(limit)
                """).map { KindStatistics.ErrorCount(message: try $0.decode("message"), count: try $0.decode("n")) }
            let slowest = try connection.query("""
                SELECT id, queue, state::text AS state, duration_ms, finished_at FROM conveyor_jobs
                WHERE kind = \(name) AND state IN ('completed', 'dead', 'cancelled') AND duration_ms >= \(Self.slowJobMs)
                  AND finished_at > now() - make_interval(secs => \(windowSeconds))
                ORDER BY duration_ms DESC, id DESC LIMIT \(limit)
                """).map { row in
                KindStatistics.SlowJob(id: try row.decode("id"), queue: try row.decode("queue"),
                                       state: JobState(rawValue: try row.decode("state")) ?? .completed,
                                       durationMs: try row.decode("duration_ms"), finishedAt: try row.decode("finished_at"))
            }
            update(name) { $0.topErrors = errors; $0.slowest = slowest }
        }
        return byKind.keys.sorted().map { byKind[$0]! }
    }
}
