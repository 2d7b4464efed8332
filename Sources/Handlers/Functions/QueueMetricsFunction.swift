import FoundationEssentials
import JobQueue

/// `queue-metrics` (admin): per queue, the jobs in each state, throughput per minute over the
/// last hour, p50 and p95 of run and wait time, and the age of the oldest waiting job; per
/// target kind, how it answered (status classes, time-outs, refusals) and its run-time p50/p95.
struct QueueMetricsFunction: ConveyorFunction {
    let name = "queue-metrics"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let store = PostgresJobStore(connection: try context.database())
        let metrics = try store.queueMetrics()
        let body: JSONValue = .object([
            "generatedAt": .string(Timestamp.format(context.now())),
            "queues": .array(metrics.map(\.json)),
            "targets": .array(Self.targets(try store.processingCounters())),
        ])
        return .json(200, raw: Data(body.jsonText.utf8))
    }
}

extension QueueMetricsFunction {
    /// Each target kind (one that ever answered): its answers by class, and its run times.
    static func targets(_ counters: ProcessingCounters) -> [JSONValue] {
        var byKind: [String: (queue: String, answers: [String: JSONValue])] = [:]
        for a in counters.answers {
            byKind[a.kind, default: (a.queue, [:])].answers[a.answer] = .int(a.jobs)
        }
        return byKind.keys.sorted().map { kind in
            var histogram = DurationHistogram()
            for r in counters.runTimes where r.kind == kind {
                for (i, n) in r.histogram.counts.enumerated() where n > 0 { histogram.add(bucket: i, jobs: n, totalMs: 0) }
                histogram.add(bucket: 0, jobs: 0, totalMs: r.histogram.sumMs)
            }
            let answers = byKind[kind]!.answers
            return .object([
                "kind": .string(kind), "queue": .string(byKind[kind]!.queue),
                "answers": .object(answers),
                "timeouts": answers["timeout"] ?? .int(0),
                "runTimeMs": histogram.summaryJSON,
            ])
        }
    }
}

extension QueueMetrics {
    /// The queue as the API and the dashboard show it.
    var json: JSONValue {
        .object([
            "queue": .string(queue),
            "paused": .bool(paused),
            "counts": .object([
                "waiting": .int(waiting), "delayed": .int(delayed), "active": .int(active),
                "completed": .int(completed), "dead": .int(dead), "cancelled": .int(cancelled),
            ]),
            "oldestWaitingSeconds": oldestWaitingSeconds.map { .double(($0 * 1000).rounded() / 1000) } ?? .null,
            "lastHour": .object([
                "completed": .int(minutes.reduce(0) { $0 + $1.completed }),
                "failed": .int(minutes.reduce(0) { $0 + $1.failed }),
                "perMinute": .array(minutes.map { .object([
                    "minute": .string(Timestamp.format($0.start)), "completed": .int($0.completed), "failed": .int($0.failed),
                ]) }),
                "runTimeMs": runTime.summaryJSON,
                "waitTimeMs": waitTime.summaryJSON,
            ]),
        ])
    }
}

extension DurationHistogram {
    /// Count, p50 and p95 (estimated from the histogram), and the mean.
    var summaryJSON: JSONValue {
        func ms(_ v: Double?) -> JSONValue { v.map { .double(($0 * 10).rounded() / 10) } ?? .null }
        return .object([
            "count": .int(count),
            "p50": ms(quantile(0.5)),
            "p95": ms(quantile(0.95)),
            "mean": ms(count > 0 ? Double(sumMs) / Double(count) : nil),
        ])
    }
}
