import Cron
import Curl
import Foundation

/// Calls functions over HTTP with the processor key, through one reusable libcurl handle so the
/// connection to nginx stays alive between calls. Used by one thread at a time, like
/// `HTTPClient`; the watcher hands idle callers from thread to thread under its lock, hence
/// the unchecked conformance.
final class FunctionCaller: @unchecked Sendable {
    private let client: HTTPClient
    private let settings: DriverSettings

    /// The delays before each retry of a connection failure in `once` and `run`.
    static let retryDelays: [Double] = [0.5, 1, 2]

    init(settings: DriverSettings) throws {
        client = try HTTPClient()
        self.settings = settings
    }

    /// One attempt. Any status is an answer; transport failures throw `CurlError`.
    /// `abandonWhen` is asked about once a second; true gives up on the answer.
    func send(_ endpoint: FunctionEndpoint, body: Data, abandonWhen: (@Sendable () -> Bool)? = nil) throws -> HTTPClientResponse {
        try client.send(HTTPClientRequest(
            method: endpoint.method, url: endpoint.url,
            headers: [("x-api-key", try settings.key(for: endpoint)), ("content-type", "application/json"), ("accept", "application/json")],
            body: body, connectTimeout: 5, timeout: endpoint.timeout, abandonWhen: abandonWhen))
    }

    /// Sends, retrying transient transport failures after each of `delays`. A timeout of the
    /// whole request is not retried: the function may have run, and would run again.
    /// `willRetry` hears each failure and the delay before the next attempt; a raised `stop`
    /// ends the retries early.
    func send(_ endpoint: FunctionEndpoint, body: Data, retryingAfter delays: [Double], stop: CronStopSignal? = nil,
              willRetry: (CurlError, Int, Double) -> Void) throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            let started = ContinuousClock.now
            do {
                return try send(endpoint, body: body)
            } catch let error as CurlError {
                let elapsed = ContinuousClock.now - started
                let ranOut = error.code == .timeout && elapsed >= .seconds(endpoint.timeout)
                guard error.isTransient, !ranOut, attempt < delays.count, stop?.isStopped != true else { throw error }
                let delay = delays[attempt]
                attempt += 1
                willRetry(error, attempt, delay)
                if let stop {
                    if stop.wait(seconds: delay) { throw error }
                } else {
                    Thread.sleep(forTimeInterval: delay)
                }
            }
        }
    }
}

extension HTTPClientResponse {
    /// True for 2xx.
    var isSuccess: Bool { (200..<300).contains(status) }

    /// The body as text, cut to `limit` characters, for log lines.
    func bodySnippet(_ limit: Int = 200) -> String {
        let text = String(decoding: body, as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}
