import FoundationEssentials
import JobQueue

/// `prometheus-metrics` (the metrics key, or the admin key): `GET /metrics` in the Prometheus
/// text format — jobs by queue
/// and state, attempts by queue, kind and outcome, the run-time histogram, how targets
/// answered, and process-batch invocations. Counters come from tables that are never pruned, so they only go up.
struct PrometheusMetricsFunction: ConveyorFunction {
    let name = "prometheus-metrics"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let store = PostgresJobStore(connection: try context.database())
        let maxQueues = context.configuration["CONVEYOR_METRICS_MAX_QUEUES"].flatMap(Int.init).map { max(1, $0) } ?? Self.defaultMaxQueues
        let (queues, counters) = Self.folded(queues: try store.queueMetrics(), counters: try store.processingCounters(), maxQueues: maxQueues)
        let text = Self.render(queues: queues, counters: counters)
        return HTTPResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: Data(text.utf8))
    }

    static func render(queues: [QueueMetrics], counters: ProcessingCounters) -> String {
        var p = PrometheusText()
        p.family("conveyor_build_info", .gauge, help: "Always 1; the version label says which Conveyor answers.")
        p.sample("conveyor_build_info", ["version": BuildInfo.version], 1)
        p.family("conveyor_queue_jobs", .gauge, help: "Jobs in the table by queue and state (waiting is due, delayed is not yet due).")
        for q in queues {
            for (state, n) in [("waiting", q.waiting), ("delayed", q.delayed), ("active", q.active),
                               ("completed", q.completed), ("dead", q.dead), ("cancelled", q.cancelled)] {
                p.sample("conveyor_queue_jobs", ["queue": q.queue, "state": state], Double(n))
            }
        }
        p.family("conveyor_queue_paused", .gauge, help: "1 when the queue is paused: no batch claims its jobs.")
        for q in queues { p.sample("conveyor_queue_paused", ["queue": q.queue], q.paused ? 1 : 0) }
        p.family("conveyor_queue_oldest_waiting_seconds", .gauge, help: "Seconds the longest-waiting due job of the queue has been due (0 when none).")
        for q in queues { p.sample("conveyor_queue_oldest_waiting_seconds", ["queue": q.queue], q.oldestWaitingSeconds ?? 0) }

        p.family("conveyor_jobs_processed_total", .counter, help: "Attempts ended, by queue, kind and outcome (completed, retried, dead).")
        for o in counters.outcomes {
            p.sample("conveyor_jobs_processed_total", ["queue": o.queue, "kind": o.kind, "outcome": o.outcome], Double(o.jobs))
        }

        p.family("conveyor_job_duration_seconds", .histogram, help: "Run time of attempts, by queue and kind.")
        for r in counters.runTimes {
            var cumulative: Int64 = 0
            for (i, bound) in r.histogram.boundsMs.enumerated() {
                cumulative += r.histogram.counts[i]
                p.sample("conveyor_job_duration_seconds_bucket", [("queue", r.queue), ("kind", r.kind), ("le", PrometheusText.format(Double(bound) / 1000))], Double(cumulative))
            }
            p.sample("conveyor_job_duration_seconds_bucket", [("queue", r.queue), ("kind", r.kind), ("le", "+Inf")], Double(r.histogram.count))
            p.sample("conveyor_job_duration_seconds_sum", [("queue", r.queue), ("kind", r.kind)], Double(r.histogram.sumMs) / 1000)
            p.sample("conveyor_job_duration_seconds_count", [("queue", r.queue), ("kind", r.kind)], Double(r.histogram.count))
        }

        p.family("conveyor_target_answers_total", .counter,
                 help: "How targets answered, by queue, kind and answer: 2xx to 5xx, timeout, refused, dns, tls, broken, not allowed; exit 0, exit 75, exit other, signal for programs.")
        for a in counters.answers {
            p.sample("conveyor_target_answers_total", ["queue": a.queue, "kind": a.kind, "answer": a.answer], Double(a.jobs))
        }

        p.family("conveyor_process_batch_invocations_total", .counter, help: "process-batch invocations.")
        p.sample("conveyor_process_batch_invocations_total", [:], Double(counters.batchInvocations))
        return p.text
    }
}
