import Foundation
import Handlers
import Logging
import Testing

/// Keys and bodies never reach the logs, whatever the outcome of a request.
struct LogSecrecyTests {
    final class Capture: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return lines.joined(separator: "\n") }
    }

    struct CaptureHandler: LogHandler {
        let capture: Capture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.append("\(event.level) \(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 }) \(event.error.map { "\($0)" } ?? "")")
        }
    }

    @Test func noKeyOrPayloadIsLogged() throws {
        let h = try Harness()
        let capture = Capture()
        let context = FunctionContext(configuration: Configuration(environment: Harness.environment()), manifest: try Harness.manifest(),
                                      logger: Logger(label: "capture") { _ in CaptureHandler(capture: capture) })
        let secretPayload = "payload-secret-\(UUID().uuidString)"
        let requests: [(String, String, String?, [String: String])] = [
            ("POST", "/v1/jobs", #"{"kind":"noop","queue":"\#(h.queue)","payload":{"s":"\#(secretPayload)"}}"#, ["x-api-key": h.key]),
            ("POST", "/v1/jobs", #"{"kind":"fail","queue":"\#(h.queue)","payload":{"message":"\#(secretPayload)","times":9}}"#, ["authorization": "Bearer \(h.key)"]),
            ("POST", "/v1/process-batch", #"{"queues":["\#(h.queue)"]}"#, ["x-api-key": Harness.processorKey]),
            ("GET", "/v1/pool/status", nil, ["x-api-key": Harness.adminKey]),
            ("POST", "/v1/jobs", "{broken \(secretPayload)", ["x-api-key": h.key]),
            ("POST", "/v1/jobs", #"{"kind":"noop"}"#, ["x-api-key": h.key + "tampered"]),
            ("POST", "/v1/process-batch", "{}", ["x-api-key": Harness.processorKey + "x"]),
        ]
        for (method, path, body, headers) in requests {
            var all = headers
            all["content-type"] = "application/json"
            _ = h.router.handle(HTTPRequest(method: method, path: path, headers: all, body: Data((body ?? "").utf8)), context: context)
        }
        let logs = capture.text
        #expect(logs.contains("process-batch"))  // the capture works
        for secret in [h.key, Harness.processorKey, Harness.adminKey, String(h.key.dropFirst(4).prefix(16))] {
            #expect(!logs.contains(secret))
        }
        #expect(!logs.contains("payload-secret"))
    }
}
