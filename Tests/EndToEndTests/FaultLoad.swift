import Foundation
import Postgres
import TestSupport
import Testing

/// Threads looping process-batch on one queue through nginx, with a short lease (a job's lease
/// is at least its limit + 10 s), as the suites that break things under load drive their jobs.
final class ProcessBatchLoops: @unchecked Sendable {
    /// Each call's HTTP status (-1: no answer).
    let calls = Tally()
    private let stop = Flag()
    private let group = DispatchGroup()

    init(_ stack: Stack, queue: String, count: Int = 2) {
        for _ in 0..<count {
            group.enter()
            Thread.detachNewThread { [self] in
                defer { group.leave() }
                guard let web = try? Web(stack.baseURL) else { return }
                while !stop.isSet {
                    let r = try? web.call("POST", "/v1/process-batch", body: #"{"queues":["\#(queue)"],"maxJobs":200,"maxSeconds":7,"leaseSeconds":4}"#,
                                          key: Stack.processorKey, timeout: 30)
                    calls.add(r?.status ?? -1)
                    if (r?.json["claimed"]?.intValue ?? 0) == 0 { usleep(50_000) }
                }
            }
        }
    }

    /// Stops the loops after their calls under way.
    func finish() {
        stop.set()
        group.wait()
    }
}

/// Finished jobs of one queue, counted every 200 ms on a connection of its own that is opened
/// again whenever the database goes away: the throughput around a fault.
final class CompletionSampler: @unchecked Sendable {
    let samples = Samples()
    private let stop = Flag()
    private let done = DispatchSemaphore(value: 0)

    init(databaseURL: String, queue: String, applicationName: String) {
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            var conn: Connection?
            while !stop.isSet {
                do {
                    if conn == nil { conn = try Connection(url: databaseURL, applicationName: applicationName) }
                    let n: Int = try conn!.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(queue) AND state IN ('completed', 'dead')")[0]
                        .decode("n")
                    samples.add(Date(), n)
                } catch {
                    conn = nil
                }
                usleep(200_000)
            }
        }
    }

    /// Stops the sampling; later calls return at once.
    func finish() {
        guard !stop.isSet else { return }
        stop.set()
        done.wait()
    }
}

extension WebhookReceiver {
    /// What the endpoint received, by the job's idempotency key, with when.
    func deliveriesByKey() throws -> (byKey: [String: [Date]], all: [Delivery]) {
        let all = try deliveries()
        var byKey: [String: [Date]] = [:]
        for delivery in all {
            guard let key = delivery.headers["conveyor-idempotency-key"] else { continue }
            byKey[key, default: []].append(Date(timeIntervalSince1970: delivery.at))
        }
        return (byKey, all)
    }
}

/// Enqueues jobs 0..<count through nginx in batches of 1,000, job n due at
/// firstDue + spread·n/count, and records the keys the client saw acknowledged. `job(n, runAt)`
/// is job n's body; `key(n)` its idempotency key.
func preloadJobs(_ web: Web, tenantKey: String, count: Int, firstDue: Date, spreadSeconds: Double, into acknowledged: Keys,
                 key: (Int) -> String, job: (Int, String) -> String) throws {
    let format = ISO8601DateFormatter()
    format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    for batch in 0..<(count / 1000) {
        let jobs = (0..<1000).map { k -> String in
            let n = batch * 1000 + k
            return job(n, format.string(from: firstDue.addingTimeInterval(spreadSeconds * Double(n) / Double(count))))
        }
        let r = try web.call("POST", "/v1/jobs", body: #"{"jobs":[\#(jobs.joined(separator: ","))]}"#, key: tenantKey, timeout: 60)
        try #require(r.status == 201, "enqueue batch \(batch): \(r.status) \(r.text.prefix(300))")
        acknowledged.add((0..<1000).map { key(batch * 1000 + $0) })
    }
}
