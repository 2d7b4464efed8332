import JobQueue

/// Bounded labels: each queue is a label value, and tenants name queues, so past `maxQueues`
/// the least busy ones are folded into one `queue="other"` series. A scraper's storage grows
/// with the busiest queues, not with every name a client ever sent.
extension PrometheusMetricsFunction {
    /// The label for every queue past the cap.
    static let otherQueue = "other"
    static let defaultMaxQueues = 100

    static func folded(queues: [QueueMetrics], counters: ProcessingCounters, maxQueues: Int) -> ([QueueMetrics], ProcessingCounters) {
        func size(_ q: QueueMetrics) -> Int64 { q.waiting + q.delayed + q.active + q.completed + q.dead + q.cancelled }
        let ranked = queues.sorted { size($0) != size($1) ? size($0) > size($1) : $0.queue < $1.queue }
        let kept = Set(ranked.prefix(max(0, maxQueues)).map(\.queue))
        let overflowing = queues.count > maxQueues || counters.outcomes.contains { !kept.contains($0.queue) }
        guard overflowing else { return (queues, counters) }
        func label(_ queue: String) -> String { kept.contains(queue) ? queue : otherQueue }

        var keptQueues = queues.filter { kept.contains($0.queue) }.sorted { $0.queue < $1.queue }
        var other = QueueMetrics(queue: otherQueue, paused: false)
        var folded = 0
        for q in queues where !kept.contains(q.queue) {
            folded += 1
            other.waiting += q.waiting; other.delayed += q.delayed; other.active += q.active
            other.completed += q.completed; other.dead += q.dead; other.cancelled += q.cancelled
            if let s = q.oldestWaitingSeconds { other.oldestWaitingSeconds = max(other.oldestWaitingSeconds ?? 0, s) }
        }
        if folded > 0 { keptQueues.append(other) }

        var out = ProcessingCounters(batchInvocations: counters.batchInvocations)
        var outcomes: [String: ProcessingCounters.Outcome] = [:]
        for o in counters.outcomes {
            let key = "\(label(o.queue))\u{0}\(o.kind)\u{0}\(o.outcome)"
            outcomes[key, default: .init(queue: label(o.queue), kind: o.kind, outcome: o.outcome, jobs: 0)].jobs += o.jobs
        }
        out.outcomes = outcomes.keys.sorted().map { outcomes[$0]! }
        var runTimes: [String: ProcessingCounters.RunTimes] = [:]
        for r in counters.runTimes {
            let key = "\(label(r.queue))\u{0}\(r.kind)"
            var merged = runTimes[key] ?? .init(queue: label(r.queue), kind: r.kind, histogram: DurationHistogram(boundsMs: r.histogram.boundsMs))
            for i in r.histogram.counts.indices where i < merged.histogram.counts.count { merged.histogram.counts[i] += r.histogram.counts[i] }
            merged.histogram.sumMs += r.histogram.sumMs
            runTimes[key] = merged
        }
        out.runTimes = runTimes.keys.sorted().map { runTimes[$0]! }
        var answers: [String: ProcessingCounters.Answer] = [:]
        for a in counters.answers {
            let key = "\(label(a.queue))\u{0}\(a.kind)\u{0}\(a.answer)"
            answers[key, default: .init(queue: label(a.queue), kind: a.kind, answer: a.answer, jobs: 0)].jobs += a.jobs
        }
        out.answers = answers.keys.sorted().map { answers[$0]! }
        return (keptQueues, out)
    }
}
