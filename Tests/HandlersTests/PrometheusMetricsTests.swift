import Foundation
@testable import Handlers
import JobQueue
import Postgres
import TestSupport
import Testing

/// GET /metrics: the text format, checked by Prometheus' own Python parser (prometheus_client).
struct PrometheusMetricsTests {
    @Test(arguments: [
        ("plain", "plain"),
        (#"say "hi""#, #"say \"hi\""#),
        (#"back\slash"#, #"back\\slash"#),
        ("two\nlines", #"two\nlines"#),
        ("ünï", "ünï"),
    ])
    func labelValuesAreEscaped(raw: String, escaped: String) {
        #expect(PrometheusText.escapeLabel(raw) == escaped)
    }

    @Test(arguments: [(1.0, "1"), (0.005, "0.005"), (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (2.5, "2.5")])
    func numbersAreFormatted(value: Double, text: String) {
        #expect(PrometheusText.format(value) == text)
    }

    static func python() throws -> String { try TestPython.path() }

    /// Parses exposition text with prometheus_client and answers its families as JSON:
    /// name → {type, help, samples: [[name, labels, value]]}.
    static func parse(_ text: String) throws -> JSONValue {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for f in text_string_to_metric_families(sys.stdin.read()):
                out[f.name] = {"type": f.type, "help": f.documentation,
                               "samples": [[s.name, s.labels, s.value if s.value == s.value and abs(s.value) != float("inf") else str(s.value)] for s in f.samples]}
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try python())
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ConfigurationError("prometheus_client refused the text: \(problem)") }
        return try JSONValue.parse(data)
    }

    /// The value of the sample `name` with exactly `labels` in a parsed family.
    static func value(_ families: JSONValue, _ family: String, _ name: String, _ labels: [String: String]) -> Double? {
        guard case .array(let samples)? = families[family]?["samples"] else { return nil }
        for sample in samples {
            guard case .array(let parts) = sample, parts.count == 3, parts[0].stringValue == name,
                  let l = parts[1].objectValue, l.mapValues({ $0.stringValue ?? "" }) == labels else { continue }
            switch parts[2] {
            case .double(let d): return d
            case .int(let i): return Double(i)
            case .string(let s): return s == "inf" ? .infinity : nil
            default: return nil
            }
        }
        return nil
    }

    @Test func theRealParserReadsEscapedLabelsAndHistograms() throws {
        var histogram = DurationHistogram()
        histogram.add(bucket: 0, jobs: 2, totalMs: 6)
        histogram.add(bucket: 99, jobs: 1, totalMs: 400_000)
        let kind = "we\"ird\\kind\nname"
        let counters = ProcessingCounters(outcomes: [.init(queue: "q1", kind: kind, outcome: "completed", jobs: 3)],
                                          runTimes: [.init(queue: "q1", kind: kind, histogram: histogram)], batchInvocations: 7)
        var queue = QueueMetrics(queue: "q1", paused: true)
        queue.waiting = 4
        let families = try Self.parse(PrometheusMetricsFunction.render(queues: [queue], counters: counters))
        #expect(families["conveyor_queue_jobs"]?["type"] == "gauge")
        #expect(Self.value(families, "conveyor_queue_jobs", "conveyor_queue_jobs", ["queue": "q1", "state": "waiting"]) == 4)
        let processed = try #require(families["conveyor_jobs_processed"])
        #expect(processed["type"] == "counter")
        guard case .array(let samples)? = processed["samples"], let first = samples.first, case .array(let parts) = first else {
            Issue.record("no processed samples"); return
        }
        #expect(parts[1]["kind"]?.stringValue == kind, "the parser reads back the exact label value")
        let duration = try #require(families["conveyor_job_duration_seconds"])
        #expect(duration["type"] == "histogram")
        guard case .array(let buckets)? = duration["samples"] else { Issue.record("no buckets"); return }
        #expect(buckets.count == JobQueueSchema.durationBucketsMs.count + 3)
        let labels = ["queue": "q1", "kind": kind]
        #expect(Self.value(families, "conveyor_job_duration_seconds", "conveyor_job_duration_seconds_bucket", labels.merging(["le": "+Inf"]) { a, _ in a }) == 3)
        #expect(Self.value(families, "conveyor_job_duration_seconds", "conveyor_job_duration_seconds_bucket", labels.merging(["le": "0.005"]) { a, _ in a }) == 2)
        #expect(Self.value(families, "conveyor_job_duration_seconds", "conveyor_job_duration_seconds_count", labels) == 3)
        #expect(Self.value(families, "conveyor_job_duration_seconds", "conveyor_job_duration_seconds_sum", labels) == 400.006)
        #expect(Self.value(families, "conveyor_process_batch_invocations", "conveyor_process_batch_invocations_total", [:]) == 7)
        #expect(families["conveyor_queue_paused"]?["help"]?.stringValue?.isEmpty == false)
    }

    @Test func getMetricsNeedsTheAdminKeyAndParses() throws {
        let h = try Harness()
        #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201)
        _ = h.process()
        #expect(h.call("GET", "/metrics").status == 403)
        #expect(h.call("GET", "/metrics", key: .some(nil)).status == 401)
        let answer = h.call("GET", "/metrics", key: Harness.adminKey)
        #expect(answer.status == 200)
        #expect(answer.response.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let families = try Self.parse(String(decoding: answer.response.body, as: UTF8.self))
        #expect(Self.value(families, "conveyor_jobs_processed", "conveyor_jobs_processed_total", ["queue": h.queue, "kind": "noop", "outcome": "completed"]) == 1)
        #expect(Self.value(families, "conveyor_queue_jobs", "conveyor_queue_jobs", ["queue": h.queue, "state": "completed"]) == 1)
    }

    /// A scraper gets a key of its own that reads /metrics and nothing else.
    @Test func theMetricsKeyReadsMetricsOnly() throws {
        let metricsKey = "metrics-\(UUID().uuidString)"
        let h = try Harness(environment: ["CONVEYOR_METRICS_KEY": metricsKey])
        let scraped = h.call("GET", "/metrics", key: metricsKey)
        #expect(scraped.status == 200)
        #expect(String(decoding: scraped.response.body, as: UTF8.self).contains("conveyor_build_info"))
        #expect(h.call("GET", "/metrics", key: .some(nil), headers: ["authorization": "Bearer \(metricsKey)"]).status == 200)
        #expect(h.call("GET", "/metrics", key: Harness.adminKey).status == 200, "the admin key still reads it")
        #expect(h.call("GET", "/v1/metrics/queues", key: metricsKey).status == 403)
        #expect(h.call("POST", "/v1/admin/jobs/retry-dead", body: "{}", key: metricsKey).status == 403)
        #expect(h.call("GET", "/v1/jobs", key: metricsKey).status == 403)
        #expect(h.call("GET", "/metrics", key: h.key).status == 403, "a tenant key is not a metrics key")
        #expect(h.call("GET", "/metrics", key: "nope").status == 401)
    }

    /// Past the cap, the least busy queues share one `queue="other"` series; totals are kept.
    @Test func queuesPastTheCapFoldIntoOther() throws {
        func queue(_ name: String, waiting: Int64) -> QueueMetrics {
            var q = QueueMetrics(queue: name, paused: false)
            q.waiting = waiting
            q.oldestWaitingSeconds = Double(waiting)
            return q
        }
        var histogram = DurationHistogram()
        histogram.add(bucket: 0, jobs: 2, totalMs: 4)
        let counters = ProcessingCounters(outcomes: [.init(queue: "big", kind: "noop", outcome: "completed", jobs: 5),
                                                     .init(queue: "small-1", kind: "noop", outcome: "completed", jobs: 2),
                                                     .init(queue: "small-2", kind: "noop", outcome: "completed", jobs: 3)],
                                          runTimes: [.init(queue: "small-1", kind: "noop", histogram: histogram),
                                                     .init(queue: "small-2", kind: "noop", histogram: histogram)], batchInvocations: 1)
        let (queues, folded) = PrometheusMetricsFunction.folded(queues: [queue("big", waiting: 100), queue("small-1", waiting: 1), queue("small-2", waiting: 2)],
                                                                counters: counters, maxQueues: 1)
        #expect(queues.map(\.queue) == ["big", "other"])
        #expect(queues.last?.waiting == 3 && queues.last?.oldestWaitingSeconds == 2)
        let families = try Self.parse(PrometheusMetricsFunction.render(queues: queues, counters: folded))
        #expect(Self.value(families, "conveyor_jobs_processed", "conveyor_jobs_processed_total", ["queue": "other", "kind": "noop", "outcome": "completed"]) == 5)
        #expect(Self.value(families, "conveyor_jobs_processed", "conveyor_jobs_processed_total", ["queue": "big", "kind": "noop", "outcome": "completed"]) == 5)
        #expect(Self.value(families, "conveyor_job_duration_seconds", "conveyor_job_duration_seconds_count", ["queue": "other", "kind": "noop"]) == 4)
        // Under the cap nothing changes.
        let (same, sameCounters) = PrometheusMetricsFunction.folded(queues: [queue("big", waiting: 1)], counters: ProcessingCounters(), maxQueues: 100)
        #expect(same.map(\.queue) == ["big"] && sameCounters == ProcessingCounters())
    }
}
