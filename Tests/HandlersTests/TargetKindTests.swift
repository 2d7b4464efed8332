import Foundation
import Handlers
import JobQueue
import Logging
import Targets
import TestSupport
import Testing

/// Job kinds declared in functions.json with a target: the user's own endpoint, enqueued and
/// run like a built-in kind, every delivery verified by the reference Standard Webhooks package.
@Suite struct TargetKindTests {
    static func entry(_ name: String, url: String, queue: String, extra: String = "", maxAttempts: Int = 3) -> String {
        #"{"name": "\#(name)", "target": {"url": "\#(url)", "timeoutSeconds": 5\#(extra)}, "job": {"queue": "\#(queue)", "maxAttempts": \#(maxAttempts), "backoffBaseSeconds": 0.001}}"#
    }

    /// A harness of its own queue whose manifest adds `entries(queue)`, read with `secret` as
    /// CONVEYOR_WEBHOOK_SECRET.
    static func harness(secret: String? = nil, capture: LogSecrecyTests.Capture? = nil, entries: (String) -> [String]) throws -> Harness {
        let queue = Harness.newQueue()
        var environment = Harness.environment()
        environment["CONVEYOR_WEBHOOK_SECRET"] = secret
        let manifest = try Harness.manifest(adding: entries(queue), environment: environment)
        return try Harness(manifest: manifest, queue: queue, capture: capture)
    }

    /// A harness whose manifest adds HTTP target kinds that deliver to `receiver`.
    static func harness(_ receiver: WebhookReceiver, secret: String, kinds: [(String, String)], capture: LogSecrecyTests.Capture? = nil) throws -> Harness {
        try harness(secret: secret, capture: capture) { queue in kinds.map { entry($0.0, url: receiver.base + $0.1, queue: queue) } }
    }

    /// Runs process-batch until the job leaves `available`, `scheduled` and `running`.
    static func settle(_ h: Harness, _ id: Int64) throws -> JSONValue {
        for _ in 0..<50 {
            let answer = h.process(maxSeconds: 40)
            try #require(answer.status == 200, "\(answer.json)")
            let job = h.status(id).json
            if let state = job["state"]?.stringValue, !["available", "scheduled", "running"].contains(state) { return job }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return h.status(id).json
    }

    @Test func anEnqueuedTargetKindIsDeliveredSignedAndItsAnswerIsTheResult() throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let capture = LogSecrecyTests.Capture()
        let h = try Self.harness(receiver, secret: secret, kinds: [("resize-image", "/ok")], capture: capture)
        let enqueued = h.enqueue(#"{"kind": "resize-image", "payload": {"url": "https://img.example/a.png", "width": 200}}"#)
        #expect(enqueued.status == 201, "\(enqueued.json)")
        let id = try #require(enqueued.id)
        let job = try Self.settle(h, id)
        #expect(job["state"]?.stringValue == "completed", "\(job)")
        #expect(job["queue"]?.stringValue == h.queue, "the kind's own queue")
        #expect(job["result"] == (try JSONValue.parse(#"{"received": {"url": "https://img.example/a.png", "width": 200}}"#)))

        let deliveries = try receiver.deliveries()
        #expect(deliveries.count == 1)
        #expect(deliveries.first?.verified == [true])
        #expect(deliveries.first?.headers["conveyor-org"] == String(h.orgId))
        #expect(deliveries.first?.headers["webhook-id"] == "job_\(id)")
        #expect(deliveries.first?.headers["conveyor-progress-token"]?.hasPrefix("cvp1.\(id).1.") == true)
        #expect(deliveries.first?.headers["conveyor-progress-path"] == "/v1/jobs/\(id)/progress")
        let logs = capture.text
        #expect(!logs.contains(String(secret.dropFirst(6))), "the signing secret never reaches a log")
    }

    /// The enqueue request's traceparent header (or the job's own field) and the job's
    /// idempotency key reach the endpoint with the delivery.
    @Test func traceContextAndIdempotencyKeyTravelWithTheDelivery() throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let h = try Self.harness(receiver, secret: secret, kinds: [("traced-hook", "/ok")])
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
        let fromHeader = try #require(h.call("POST", "/v1/jobs", body: #"{"kind": "traced-hook", "idempotencyKey": "order-42", "payload": {}}"#,
                                             headers: ["content-type": "application/json", "traceparent": header]).id)
        let fromBody = try #require(h.call("POST", "/v1/jobs", body: #"{"kind": "traced-hook", "traceparent": "\#(own)", "payload": {}}"#,
                                           headers: ["content-type": "application/json", "traceparent": header]).id)
        let untraced = try #require(h.call("POST", "/v1/jobs", body: #"{"kind": "traced-hook", "payload": {}}"#,
                                           headers: ["content-type": "application/json", "traceparent": "not-a-trace"]).id)
        for id in [fromHeader, fromBody, untraced] { _ = try Self.settle(h, id) }
        let byJob = Dictionary(try receiver.deliveries().map { ($0.headers["conveyor-job-id"] ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byJob[String(fromHeader)]?.headers["traceparent"] == header)
        #expect(byJob[String(fromHeader)]?.headers["conveyor-idempotency-key"] == "order-42")
        #expect(byJob[String(fromBody)]?.headers["traceparent"] == own, "a job's own trace context wins")
        #expect(byJob[String(fromBody)]?.headers["conveyor-idempotency-key"] == nil)
        #expect(byJob[String(untraced)]?.headers["traceparent"] == nil, "an invalid header is ignored")
        #expect(byJob.values.allSatisfy { $0.verified == [true] })
    }

    @Test func retriesKeepTheWebhookIdAndDeadLettersSayWhy() throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let h = try Self.harness(receiver, secret: secret, kinds: [("flaky-hook", "/fail-first/2"), ("gone-hook", "/status/410"), ("moved-hook", "/redirect")])

        let flaky = try #require(h.enqueue(#"{"kind": "flaky-hook", "payload": {"n": 1}}"#).id)
        let flakyJob = try Self.settle(h, flaky)
        #expect(flakyJob["state"]?.stringValue == "completed", "\(flakyJob)")
        #expect(flakyJob["attempt"]?.intValue == 3)
        #expect(flakyJob["result"] == .object(["attempts": .int(3)]))
        let flakyDeliveries = try receiver.deliveries().filter { $0.path == "/fail-first/2" }
        #expect(flakyDeliveries.count == 3)
        #expect(Set(flakyDeliveries.map { $0.headers["webhook-id"] }) == ["job_\(flaky)"])
        #expect(flakyDeliveries.map { $0.headers["conveyor-attempt"] } == ["1", "2", "3"])
        #expect(flakyJob["errors"]?.arrayCount == 2)

        let gone = try #require(h.enqueue(#"{"kind": "gone-hook", "payload": {}}"#).id)
        let goneJob = try Self.settle(h, gone)
        #expect(goneJob["state"]?.stringValue == "dead")
        #expect(goneJob["attempt"]?.intValue == 1, "a 410 is not retried")
        #expect(goneJob.jsonText.contains("410: status 410 body"))

        let moved = try #require(h.enqueue(#"{"kind": "moved-hook", "payload": {}}"#).id)
        let movedJob = try Self.settle(h, moved)
        #expect(movedJob["state"]?.stringValue == "dead")
        #expect(movedJob.jsonText.contains("redirects are not followed"))

        #expect(try receiver.deliveries().allSatisfy { $0.verified == [true] })
        #expect(!goneJob.jsonText.contains(String(secret.dropFirst(6))))
    }

    static let jobs = Harness.repoRoot.appendingPathComponent("Tests/Fixtures/jobs").path

    @Test func programKindsRunThroughProcessBatch() throws {
        let h = try Self.harness { queue in [
            #"{"name": "echo-program", "target": {"exec": "\#(Self.jobs)/echo-job", "timeoutSeconds": 5}, "job": {"queue": "\#(queue)", "maxAttempts": 2, "backoffBaseSeconds": 0.001}}"#,
            #"{"name": "busy-program", "target": {"exec": "\#(Self.jobs)/exit-with", "args": ["still busy", "75"], "timeoutSeconds": 5}, "job": {"queue": "\#(queue)", "maxAttempts": 2, "backoffBaseSeconds": 0.001}}"#,
            #"{"name": "slow-program", "target": {"exec": "\#(Self.jobs)/hang", "args": ["/dev/null"], "timeoutSeconds": 0.5}, "job": {"queue": "\#(queue)", "maxAttempts": 1, "backoffBaseSeconds": 0.001}}"#,
        ] }

        let echo = try #require(h.enqueue(#"{"kind": "echo-program", "idempotencyKey": "thumb-1", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "payload": {"w": 3}}"#).id)
        let echoJob = try Self.settle(h, echo)
        #expect(echoJob["state"]?.stringValue == "completed", "\(echoJob)")
        #expect(echoJob["result"]?["input"] == .object(["w": .int(3)]))
        #expect(echoJob["result"]?["org"] == .string(String(h.orgId)))
        #expect(echoJob["result"]?["otherVariables"] == .int(0), "DATABASE_URL and the keys stay out of the program")
        #expect(echoJob["result"]?["key"] == .string("thumb-1"))
        #expect(echoJob["result"]?["trace"] == .string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))

        let busy = try #require(h.enqueue(#"{"kind": "busy-program", "payload": {}}"#).id)
        let busyJob = try Self.settle(h, busy)
        #expect(busyJob["state"]?.stringValue == "dead")
        #expect(busyJob["attempt"]?.intValue == 2, "exit 75 was retried until the attempts ran out")
        #expect(busyJob.jsonText.contains("still busy"))

        let slow = try #require(h.enqueue(#"{"kind": "slow-program", "payload": {}}"#).id)
        let slowJob = try Self.settle(h, slow)
        #expect(slowJob["state"]?.stringValue == "dead")
        #expect(slowJob.jsonText.contains("timed out"), "\(slowJob)")
    }

    /// A program reports progress with its token while it runs: job-status shows it, a forged
    /// or misdirected token is refused, and once the attempt is over the token is worth nothing.
    @Test func aTargetReportsProgressWithItsToken() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("progress-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokenFile = directory.appendingPathComponent("token").path, goFile = directory.appendingPathComponent("go").path
        let h = try Self.harness { queue in [
            #"{"name": "reporting-program", "target": {"exec": "\#(Self.jobs)/report-then-wait", "args": ["\#(tokenFile)", "\#(goFile)"], "timeoutSeconds": 25}, "job": {"queue": "\#(queue)", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#,
        ] }
        let queue = h.queue
        let id = try #require(h.enqueue(#"{"kind": "reporting-program", "payload": {}}"#).id)
        let other = try #require(h.enqueue(#"{"kind": "noop", "queue": "\#(queue)", "payload": {}}"#).id)

        nonisolated(unsafe) let harness = h
        let batch = Thread { _ = harness.process(maxSeconds: 40) }
        batch.start()
        let until = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: tokenFile), Date() < until { Thread.sleep(forTimeInterval: 0.02) }
        let written = try String(contentsOfFile: tokenFile, encoding: .utf8).split(separator: " ").map(String.init)
        let (token, path) = (written[0], written[1])
        #expect(path == "/v1/jobs/\(id)/progress")

        // Another context: the batch holds the harness's own.
        let caller = FunctionContext(configuration: h.context.configuration, manifest: h.context.manifest, logger: h.context.logger)
        func report(_ path: String, _ body: String) -> Answer {
            Answer(response: h.router.handle(HTTPRequest(method: "POST", path: path, headers: ["content-type": "application/json"], body: Data(body.utf8)),
                                             context: caller))
        }
        let accepted = report(path, #"{"token": "\#(token)", "percent": 40, "message": "resizing"}"#)
        #expect(accepted.status == 200, "\(accepted.json)")
        let running = Answer(response: h.router.handle(HTTPRequest(method: "GET", path: "/v1/jobs/\(id)", headers: ["x-api-key": h.key]), context: caller))
        #expect(running.json["progress"]?["percent"] == .int(40), "\(running.json)")
        #expect(running.json["progress"]?["message"] == .string("resizing"))
        #expect(report("/v1/jobs/\(other)/progress", #"{"token": "\#(token)", "percent": 50}"#).status == 403, "a token is for its own job")
        #expect(report(path, #"{"token": "\#(token.dropLast(2))xx", "percent": 50}"#).status == 403, "a forged token")
        #expect(report(path, #"{"token": "\#(token)", "percent": 101}"#).status == 422)

        FileManager.default.createFile(atPath: goFile, contents: nil)
        while batch.isExecuting, Date() < until { Thread.sleep(forTimeInterval: 0.02) }
        let done = try Self.settle(h, id)
        #expect(done["state"]?.stringValue == "completed", "\(done)")
        #expect(report(path, #"{"token": "\#(token)", "percent": 90}"#).status == 409, "the attempt is over")
    }

    /// queue-metrics and /metrics break deliveries down by target: answers by class, time-outs
    /// and run times.
    @Test func metricsCountHowEachTargetAnswered() throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let (flaky, gone, slow) = ("flaky-\(suffix)", "gone-\(suffix)", "slow-\(suffix)")
        let h = try Self.harness(secret: secret) { queue in [
            Self.entry(flaky, url: receiver.base + "/fail-first/2", queue: queue),
            Self.entry(gone, url: receiver.base + "/status/410", queue: queue),
            #"{"name": "\#(slow)", "target": {"url": "\#(receiver.base)/hang", "timeoutSeconds": 0.3}, "job": {"queue": "\#(queue)", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#,
        ] }
        let queue = h.queue
        for kind in [flaky, gone, slow] {
            _ = try Self.settle(h, try #require(h.enqueue(#"{"kind": "\#(kind)", "payload": {}}"#).id))
        }
        let metrics = h.call("GET", "/v1/metrics/queues", key: Harness.adminKey)
        #expect(metrics.status == 200)
        func target(_ kind: String) -> JSONValue? {
            guard case .array(let all)? = metrics.json["targets"] else { return nil }
            return all.first { $0["kind"]?.stringValue == kind }
        }
        #expect(target(flaky)?["answers"] == .object(["5xx": .int(2), "2xx": .int(1)]), "\(metrics.json)")
        #expect(target(flaky)?["runTimeMs"]?["count"] == .int(3))
        #expect(target(gone)?["answers"] == .object(["4xx": .int(1)]))
        #expect(target(slow)?["answers"] == .object(["timeout": .int(1)]))
        #expect(target(slow)?["timeouts"] == .int(1))

        let prometheus = String(decoding: h.call("GET", "/metrics", key: Harness.adminKey).response.body, as: UTF8.self)
        #expect(prometheus.contains(#"conveyor_target_answers_total{queue="\#(queue)",kind="\#(flaky)",answer="5xx"} 2"#), "\(prometheus.prefix(2000))")
        #expect(prometheus.contains(#"conveyor_target_answers_total{queue="\#(queue)",kind="\#(slow)",answer="timeout"} 1"#))
    }

    @Test func anEndpointThatHangsTimesOutAndTheJobIsNotLeftRunning() throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let h = try Self.harness(secret: secret) { queue in [
            #"{"name": "hanging-hook", "target": {"url": "\#(receiver.base)/hang", "timeoutSeconds": 0.5}, "job": {"queue": "\#(queue)", "maxAttempts": 2, "backoffBaseSeconds": 0.001}}"#,
        ] }
        let id = try #require(h.enqueue(#"{"kind": "hanging-hook", "payload": {}}"#).id)
        let job = try Self.settle(h, id)
        #expect(job["state"]?.stringValue == "dead")
        #expect(job["attempt"]?.intValue == 2, "a time-out is retried")
        #expect(job.jsonText.contains("timed out"), "\(job)")
        #expect(try receiver.deliveries().count == 2)
    }

    @Test(arguments: [
        (#"{"name": "t1", "target": {"url": "ftp://127.0.0.1/x"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t1.target.url must be an http"),
        (#"{"name": "t2", "target": {"url": "http://user:pw@127.0.0.1/x"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t2.target.url must not carry credentials"),
        (#"{"name": "t3", "target": {"url": "http:///x"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t3.target.url has no host"),
        (#"{"name": "t4", "target": {"url": "http://127.0.0.1/x", "timeoutSecond": 5}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, #"t4.target has an unknown field "timeoutSecond""#),
        (#"{"name": "t5", "target": {"url": "http://127.0.0.1/x"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1, "retries": 2}}"#, #"t5.job has an unknown field "retries""#),
        (#"{"name": "t6", "target": {"url": "http://127.0.0.1/x"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}, "secret": "whsec_x"}"#, #"t6 has an unknown field "secret""#),
        (#"{"name": "t7", "target": {"url": "http://127.0.0.1/x", "secretEnv": "T7_SECRET"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t7.target has no signing secret: the variable T7_SECRET is unset"),
        (#"{"name": "t8", "target": {"url": "http://127.0.0.1/x", "secretFile": "/nonexistent/secret"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t8.target has no signing secret: the file /nonexistent/secret"),
        (#"{"name": "t9", "target": {"url": "http://127.0.0.1/x", "secretEnv": "BAD_SECRET"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t9.target's signing secret in the variable BAD_SECRET is not usable"),
        (#"{"name": "t10", "target": {"url": "http://127.0.0.1/x"}}"#, "t10 has a target, so it is a job kind only"),
        (#"{"name": "t11", "method": "POST", "path": "/v1/t11", "target": {"url": "http://127.0.0.1/x"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t11 has a target"),
        (#"{"name": "t12", "target": {}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t12.target needs a url or an exec"),
        (#"{"name": "t13", "target": {"url": "http://127.0.0.1/x", "exec": "/bin/true"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t13.target needs a url or an exec, and not both"),
        (#"{"name": "t14", "target": {"exec": "bin/true"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t14.target.exec must be an absolute path"),
        (#"{"name": "t15", "target": {"exec": "\#(Harness.repoRoot.path)/README.md"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "README.md is not an executable file"),
        (#"{"name": "t17", "target": {"exec": "/usr/bin"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t17.target.exec /usr/bin is not an executable file"),
        (#"{"name": "t16", "target": {"exec": "/bin/true", "secretEnv": "X"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#, "t16.target runs a program"),
    ])
    func aBadEntryStopsStartUpNamingIt(entry: String, message: String) {
        let secret = WebhookSecret.generate()
        let environment = ["CONVEYOR_WEBHOOK_SECRET": secret, "BAD_SECRET": "whsec_tooshort-and-secret"]
        do {
            _ = try Harness.manifest(adding: [entry], environment: environment)
            Issue.record("accepted \(entry)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
            #expect(!"\(error)".contains("tooshort-and-secret"), "an unusable secret is not repeated")
        }
    }

    /// A team's functions.json includes Conveyor's, relative to itself, and adds its kinds.
    @Test func aManifestIncludesAnother() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("conveyor"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: Harness.repoRoot.appendingPathComponent("functions.json"),
                                         to: directory.appendingPathComponent("conveyor/functions.json"))
        let own = directory.appendingPathComponent("functions.json")
        try Data(#"{"include": ["conveyor/functions.json"], "functions": [{"name": "ours", "target": {"exec": "/bin/true"}, "job": {"queue": "ours", "maxAttempts": 1, "backoffBaseSeconds": 1}}]}"#.utf8).write(to: own)
        let manifest = try FunctionManifest.load(path: own.path, environment: [:])
        #expect(manifest.entry("enqueue") != nil && manifest.entry("ours") != nil)
        _ = try Router(manifest: manifest)

        let loop = directory.appendingPathComponent("loop.json")
        try Data(#"{"include": ["loop.json"], "functions": []}"#.utf8).write(to: loop)
        #expect(throws: ConfigurationError.self) { try FunctionManifest.load(path: loop.path, environment: [:]) }
        let missing = directory.appendingPathComponent("missing.json")
        try Data(#"{"include": ["nowhere.json"], "functions": []}"#.utf8).write(to: missing)
        do {
            _ = try FunctionManifest.load(path: missing.path, environment: [:])
            Issue.record("a missing include was accepted")
        } catch {
            #expect("\(error)".contains("nowhere.json"))
        }
    }

    @Test func theSecretMayComeFromAFileAndAnEnqueueNeedsNoCode() throws {
        let secret = WebhookSecret.generate()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try Data("\(secret)\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let manifest = try Harness.manifest(adding: [
            #"{"name": "from-file", "target": {"url": "http://127.0.0.1:9/x", "secretFile": "\#(file.path)"}, "job": {"queue": "q", "maxAttempts": 1, "backoffBaseSeconds": 1}}"#,
        ], environment: [:])
        #expect(manifest.targets["from-file"] != nil)
        #expect(manifest.jobKinds["from-file"]?.queue == "q")
        _ = try Router(manifest: manifest)
    }
}

extension JSONValue {
    var arrayCount: Int? {
        if case .array(let a) = self { return a.count }
        return nil
    }
}
