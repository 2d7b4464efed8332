import FoundationEssentials
import JobQueue

/// The alert configuration, from the environment. Nil when no webhook URL is set.
struct AlertSettings {
    var webhookURL: String
    /// Fires when more than this share of attempts failed in the window (default 0.05).
    var failureRate: Double
    /// Fewer attempts than this in the window never fire the failure-rate alert (default 10):
    /// one failure out of one attempt is not an outage.
    var minAttempts: Int
    /// Fires when more due jobs than this wait (default 1000).
    var waitingThreshold: Int
    /// Only these queues (CONVEYOR_ALERT_QUEUES, comma-separated); nil watches all.
    var queues: [String]?
    var windowSeconds = 900
    var everySeconds = 3600

    init?(_ c: Configuration) throws {
        guard let url = c["CONVEYOR_ALERT_WEBHOOK_URL"] else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw ConfigurationError("CONVEYOR_ALERT_WEBHOOK_URL must be an http:// or https:// URL")
        }
        webhookURL = url
        failureRate = try Self.number(c, "CONVEYOR_ALERT_FAILURE_RATE", default: 0.05, in: 0...1)
        minAttempts = Int(try Self.number(c, "CONVEYOR_ALERT_MIN_ATTEMPTS", default: 10, in: 1...1_000_000))
        waitingThreshold = Int(try Self.number(c, "CONVEYOR_ALERT_WAITING_THRESHOLD", default: 1000, in: 0...100_000_000))
        if let list = c["CONVEYOR_ALERT_QUEUES"] {
            let names = list.split(separator: ",").map { Authenticator.trimmed(String($0)) }.filter { !$0.isEmpty }
            guard !names.isEmpty, names.allSatisfy(JobRequest.isValidQueueName) else {
                throw ConfigurationError("CONVEYOR_ALERT_QUEUES must list queue names separated by commas")
            }
            queues = names
        }
    }

    static func number(_ c: Configuration, _ name: String, default value: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let text = c[name] else { return value }
        guard let n = Double(text), range.contains(n) else {
            throw ConfigurationError("\(name) must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }
}
