import FoundationEssentials
import JobQueue

/// `prune-jobs` (processor; a crontab line calls it): deletes finished jobs past their queue's
/// retention (completed 24 h, dead and cancelled 7 d by default) in bounded, keyset-paged
/// batches. `{"batchSize"?: 1-10000, "maxBatches"?: 1-1000}`; `more` says a pass stopped at
/// its bound with expired jobs left, which the next pass takes.
struct RetentionFunction: ConveyorFunction {
    let name = "prune-jobs"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let body = try AdminInput.object(invocation.request, allowed: ["batchSize", "maxBatches"])
        func bounded(_ field: String, _ range: ClosedRange<Int64>, _ fallback: Int) throws -> Int {
            guard let v = body[field] else { return fallback }
            guard let n = v.intValue, range.contains(n) else {
                throw APIError(.invalidInput, "\(field): must be a whole number from \(range.lowerBound) to \(range.upperBound)", details: ["field": .string(field)])
            }
            return Int(n)
        }
        let batchSize = try bounded("batchSize", 1...10_000, 1000)
        let maxBatches = try bounded("maxBatches", 1...1000, 100)
        let summary = try PostgresJobStore(connection: context.database()).pruneExpired(batchSize: batchSize, maxBatches: maxBatches)
        let total = summary.deleted.values.reduce(0, +)
        if total > 0 { context.logger.info("finished jobs pruned", metadata: ["count": "\(total)", "more": "\(summary.more)"]) }
        let answer: JSONValue = .object([
            "deleted": .object(Dictionary(uniqueKeysWithValues: PostgresJobStore.purgeableStates.map { ($0.rawValue, JSONValue.int(Int64(summary.deleted[$0] ?? 0))) })),
            "rollupRows": .int(Int64(summary.rollupRows)),
            "batches": .int(Int64(summary.batches)),
            "more": .bool(summary.more),
        ])
        return .json(200, raw: Data(answer.jsonText.utf8))
    }
}
