import FoundationEssentials
import JobQueue

/// `job-stats` (admin): per kind, jobs by state, attempts by outcome, the most frequent error
/// messages and the slowest jobs of the last 24 h. `?kind=` narrows it to one kind, `?top=` sets
/// how many errors and slow jobs (1 to 100, default 5).
struct JobStatsFunction: ConveyorFunction {
    let name = "job-stats"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let query = invocation.request.query
        var top = 5
        if let t = query["top"] {
            guard let n = Int(t), (1...100).contains(n) else {
                throw APIError(.invalidInput, "top: must be a whole number from 1 to 100", details: ["field": "top"])
            }
            top = n
        }
        if let kind = query["kind"], kind.isEmpty || kind.utf8.count > 200 {
            throw APIError(.invalidInput, "kind: must be 1 to 200 characters", details: ["field": "kind"])
        }
        let stats = try PostgresJobStore(connection: context.database()).kindStatistics(kind: query["kind"], top: top)
        let body: JSONValue = .object(["windowSeconds": .int(86_400), "kinds": .array(stats.map(\.json))])
        return .json(200, raw: Data(body.jsonText.utf8))
    }
}

extension KindStatistics {
    var json: JSONValue {
        var states: [String: JSONValue] = [:]
        for state in JobState.allCases { states[state.rawValue] = .int(self.states[state] ?? 0) }
        return .object([
            "kind": .string(kind),
            "states": .object(states),
            "outcomes": .object(["completed": .int(outcomes["completed"] ?? 0), "retried": .int(outcomes["retried"] ?? 0),
                                 "dead": .int(outcomes["dead"] ?? 0)]),
            "topErrors": .array(topErrors.map { .object(["message": .string($0.message), "count": .int($0.count)]) }),
            "slowest": .array(slowest.map { .object([
                "id": .int($0.id), "queue": .string($0.queue), "state": .string($0.state.rawValue),
                "durationMs": .int(Int64($0.durationMs)), "finishedAt": .string(Timestamp.format($0.finishedAt)),
            ]) }),
        ])
    }
}
