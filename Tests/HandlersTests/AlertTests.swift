import Foundation
import Handlers
import JobQueue
import Logging
import Postgres
import Testing

/// check-alerts against a real HTTP server on loopback (Tests/Fixtures/http_recorder.py). Each
/// test watches only its own queue (CONVEYOR_ALERT_QUEUES), so its conditions and their
/// once-an-hour state are its own.
struct AlertTests {
    /// The recorder, stopped (SIGKILL) when the test lets go of it, also on failure.
    final class Webhook {
        let process = Process()
        let directory: URL
        let port: Int

        init() throws {
            directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("alerts-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let portFile = directory.appendingPathComponent("port")
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [Harness.repoRoot.appendingPathComponent("Tests/Fixtures/http_recorder.py").path,
                                 "--port-file", portFile.path, "--log", directory.appendingPathComponent("log.jsonl").path,
                                 "--respond", "/broken=500:{}"]
            try process.run()
            let deadline = Date(timeIntervalSinceNow: 10)
            while Date() < deadline, (try? String(contentsOf: portFile, encoding: .utf8)).flatMap({ Int($0) }) == nil { usleep(20_000) }
            guard let port = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap({ Int($0) }) else {
                throw ConfigurationError("the webhook recorder did not start")
            }
            self.port = port
        }

        /// The JSON bodies POSTed to `path`, in order.
        func alerts(path: String = "/hook") -> [JSONValue] {
            let log = (try? String(contentsOf: directory.appendingPathComponent("log.jsonl"), encoding: .utf8)) ?? ""
            return log.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
                .filter { $0["path"]?.stringValue == path && $0["method"] == "POST" }
                .compactMap { $0["body"]?.stringValue.flatMap { try? JSONValue.parse($0) } }
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    func check(_ h: Harness, url: String, waiting: Int = 1000) throws -> Answer {
        var env = Harness.environment()
        env["CONVEYOR_ALERT_WEBHOOK_URL"] = url
        env["CONVEYOR_ALERT_QUEUES"] = h.queue
        env["CONVEYOR_ALERT_MIN_ATTEMPTS"] = "2"
        env["CONVEYOR_ALERT_WAITING_THRESHOLD"] = String(waiting)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let context = FunctionContext(configuration: Configuration(environment: env), manifest: try Harness.manifest(), logger: logger)
        let response = h.router.handle(HTTPRequest(method: "POST", path: "/v1/maintenance/alerts", headers: ["x-api-key": Harness.processorKey]), context: context)
        return Answer(response: response)
    }

    func sent(_ answer: Answer, _ name: String) -> Bool? {
        guard case .array(let alerts)? = answer.json["alerts"] else { return nil }
        return alerts.first { $0["alert"]?.stringValue == name }?["sent"].flatMap { if case .bool(let b) = $0 { b } else { nil } }
    }

    @Test func aHighFailureRateAlertsOnceAnHour() throws {
        let h = try Harness()
        let hook = try Webhook()
        #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201)
        #expect(h.enqueue(#"{"kind":"fail","queue":"\#(h.queue)","payload":{"permanent":true}}"#).status == 201)
        _ = h.process()
        // A webhook that answers 500 does not use up the hour: the next check sends again.
        let refused = try check(h, url: "http://127.0.0.1:\(hook.port)/broken")
        #expect(refused.status == 200 && sent(refused, "failure_rate") == false)
        let first = try check(h, url: "http://127.0.0.1:\(hook.port)/hook")
        #expect(first.status == 200 && sent(first, "failure_rate") == true)
        #expect(sent(first, "waiting_jobs") == false)
        let second = try check(h, url: "http://127.0.0.1:\(hook.port)/hook")
        #expect(sent(second, "failure_rate") == false, "one alert per condition per hour")
        let alerts = hook.alerts()
        #expect(alerts.count == 1)
        #expect(alerts.first?["alert"] == "failure_rate" && alerts.first?["failed"] == 1 && alerts.first?["completed"] == 1)
        #expect(alerts.first?["value"] == .double(0.5))
        #expect(hook.alerts(path: "/broken").count == 1)
        // An hour later it may fire again.
        try h.db.execute("UPDATE conveyor_alerts SET last_sent_at = now() - interval '61 minutes' WHERE condition = \("failure_rate:\(h.queue)")")
        #expect(sent(try check(h, url: "http://127.0.0.1:\(hook.port)/hook"), "failure_rate") == true)
        #expect(hook.alerts().count == 2)
    }

    @Test func aBacklogAlertsWhenMoreJobsWaitThanAllowed() throws {
        let h = try Harness()
        let hook = try Webhook()
        let url = "http://127.0.0.1:\(hook.port)/hook"
        for _ in 0..<2 { #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201) }
        #expect(sent(try check(h, url: url, waiting: 2), "waiting_jobs") == false, "2 waiting is not more than 2")
        #expect(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)"}"#).status == 201)
        let answer = try check(h, url: url, waiting: 2)
        #expect(sent(answer, "waiting_jobs") == true)
        #expect(sent(answer, "failure_rate") == false)
        #expect(hook.alerts().map { $0["alert"] } == [.string("waiting_jobs")])
        #expect(hook.alerts().first?["value"] == 3)
    }

    @Test func withoutAWebhookNothingIsChecked() throws {
        let h = try Harness()
        let answer = h.call("POST", "/v1/maintenance/alerts", key: Harness.processorKey)
        #expect(answer.status == 200 && answer.json["configured"] == false)
        #expect(h.call("POST", "/v1/maintenance/alerts", key: Harness.adminKey).status == 200)
        #expect(h.call("POST", "/v1/maintenance/alerts").status == 403)
    }
}
