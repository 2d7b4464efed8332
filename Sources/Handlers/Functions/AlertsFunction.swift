import Curl
import FoundationEssentials
import JobQueue

/// `check-alerts` (processor; a crontab line calls it): when `CONVEYOR_ALERT_WEBHOOK_URL` is set,
/// POSTs a JSON alert if the failure rate over the last 15 minutes exceeds its threshold, or if
/// more jobs wait than allowed. At most one alert per condition per hour, across every checker:
/// the last sending time is kept in Postgres. A failed delivery is retried at the next check.
struct AlertsFunction: ConveyorFunction {
    let name = "check-alerts"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        // No fields yet, but a body that is not `{}` (or empty) is refused rather than ignored.
        _ = try AdminInput.object(invocation.request, allowed: [])
        let configured: AlertSettings?
        do {
            configured = try AlertSettings(context.configuration)
        } catch let error as ConfigurationError {
            throw APIError(.unavailable, "alerts are misconfigured: \(error.description)")
        }
        guard let settings = configured else {
            return .json(200, raw: Data(#"{"configured":false,"alerts":[]}"#.utf8))
        }
        let store = PostgresJobStore(connection: try context.database())
        var results: [JSONValue] = []
        for condition in try conditions(settings, store: store) {
            var result = condition.json
            var sent = false
            if condition.firing {
                var payload = condition.json
                payload["at"] = .string(Timestamp.format(context.now()))
                let text = JSONValue.object(payload).jsonText
                if try store.claimAlert(condition.key(settings), everySeconds: settings.everySeconds, payloadJSON: text) {
                    sent = deliver(text, to: settings.webhookURL, context: context)
                    if !sent { try store.releaseAlert(condition.key(settings)) }
                    result["delivered"] = .bool(sent)
                }
            }
            result["sent"] = .bool(sent)
            results.append(.object(result))
        }
        return .json(200, raw: Data(JSONValue.object(["configured": .bool(true), "alerts": .array(results)]).jsonText.utf8))
    }

    func conditions(_ s: AlertSettings, store: PostgresJobStore) throws -> [AlertCondition] {
        let outcomes = try store.recentOutcomes(queues: s.queues, seconds: s.windowSeconds)
        let attempts = outcomes.completed + outcomes.failed
        let rate = attempts > 0 ? Double(outcomes.failed) / Double(attempts) : 0
        let waiting = try store.waitingJobs(queues: s.queues, cap: s.waitingThreshold)
        let scope: JSONValue = s.queues.map { .array($0.map { .string($0) }) } ?? .string("all")
        return [
            AlertCondition(name: "failure_rate", firing: attempts >= Int64(s.minAttempts) && rate > s.failureRate, fields: [
                "message": .string("\(outcomes.failed) of \(attempts) attempts failed in the last \(s.windowSeconds / 60) minutes"),
                "value": .double((rate * 10_000).rounded() / 10_000), "threshold": .double(s.failureRate),
                "completed": .int(outcomes.completed), "failed": .int(outcomes.failed),
                "windowSeconds": .int(Int64(s.windowSeconds)), "queues": scope,
            ]),
            AlertCondition(name: "waiting_jobs", firing: waiting > s.waitingThreshold, fields: [
                "message": .string(waiting > s.waitingThreshold ? "more than \(s.waitingThreshold) jobs are waiting" : "\(waiting) jobs are waiting"),
                "value": .int(Int64(waiting)), "threshold": .int(Int64(s.waitingThreshold)), "queues": scope,
            ]),
        ]
    }

    /// POSTs the alert; false (logged without the URL, which often holds a token) on failure.
    func deliver(_ json: String, to url: String, context: FunctionContext) -> Bool {
        do {
            let response = try HTTPClient().send(HTTPClientRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")],
                                                                   body: Data(json.utf8), connectTimeout: 5, timeout: 10, maxResponseBytes: 1 << 16))
            guard (200..<300).contains(response.status) else {
                context.logger.warning("alert webhook refused the alert", metadata: ["status": "\(response.status)"])
                return false
            }
            return true
        } catch {
            context.logger.warning("alert webhook unreachable", metadata: ["error": "\(error)"])
            return false
        }
    }
}

/// One alert condition as checked now.
struct AlertCondition {
    var name: String
    var firing: Bool
    var fields: [String: JSONValue]

    var json: [String: JSONValue] {
        fields.merging(["alert": .string(name), "firing": .bool(firing)]) { _, new in new }
    }

    /// The key its sending time is kept under: per watched scope, so checkers of different
    /// queue sets do not silence each other.
    func key(_ s: AlertSettings) -> String {
        s.queues.map { "\(name):\($0.sorted().joined(separator: ","))" } ?? name
    }
}
