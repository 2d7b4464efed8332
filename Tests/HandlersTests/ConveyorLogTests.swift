import Foundation
@testable import Handlers
import JobQueue
import Logging
import Testing

/// Log lines an operator can search: text or JSON, every line of a request tied to its request
/// id, function and org, and no key, password or whsec in any of them.
struct ConveyorLogTests {
    @Test(arguments: [
        ([:], ConveyorLog.Settings(format: .text, level: .info)),
        (["CONVEYOR_LOG_FORMAT": "json"], ConveyorLog.Settings(format: .json, level: .info)),
        (["CONVEYOR_LOG_FORMAT": "TEXT", "CONVEYOR_LOG_LEVEL": "Debug"], ConveyorLog.Settings(format: .text, level: .debug)),
        (["CONVEYOR_LOG_LEVEL": "critical", "CONVEYOR_LOG_FORMAT": ""], ConveyorLog.Settings(format: .text, level: .critical)),
    ])
    func settingsComeFromTheEnvironment(environment: [String: String], settings: ConveyorLog.Settings) throws {
        #expect(try ConveyorLog.settings(environment: environment) == settings)
    }

    @Test(arguments: [("CONVEYOR_LOG_FORMAT", "xml"), ("CONVEYOR_LOG_LEVEL", "loud"), ("CONVEYOR_LOG_LEVEL", "warn")])
    func aWrongSettingNamesTheVariable(name: String, value: String) {
        #expect { try ConveyorLog.settings(environment: [name: value]) } throws: { "\($0)".contains(name) }
    }

    @Test func linesAreOneLineEachAndSorted() throws {
        let time = Date(timeIntervalSince1970: 1_790_000_000.5)
        let metadata: Logger.Metadata = ["z": "last", "a": "first\r\nforged line", "n": .array(["1", "2"])]
        let text = ConveyorLogHandler.line(time: time, level: .warning, label: "conveyor", message: "hello\nworld", metadata: metadata, format: .text)
        #expect(text == "2026-09-21T14:13:20.500Z warning conveyor: hello\\nworld a=first\\r\\nforged line n=[\"1\", \"2\"] z=last\n")
        let json = ConveyorLogHandler.line(time: time, level: .error, label: "conveyor", message: "hello\nworld", metadata: metadata, format: .json)
        #expect(json.hasSuffix("}\n"))
        #expect(json.dropLast().contains("\n") == false)
        let parsed = try JSONValue.parse(String(json.dropLast()))
        #expect(parsed["time"] == "2026-09-21T14:13:20.500Z")
        #expect(parsed["level"] == "error")
        #expect(parsed["message"] == "hello\nworld")
        #expect(parsed["a"] == "first\r\nforged line")
        #expect(parsed["n"] == .array(["1", "2"]))
    }

    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var all: [String] = []
        func add(_ s: String) { lock.lock(); all.append(s); lock.unlock() }
        var list: [String] { lock.lock(); defer { lock.unlock() }; return all }
    }

    @Test func everyLineOfARequestCarriesItsIdFunctionOrgAndStatus() throws {
        let h = try Harness()
        let lines = Lines()
        var logger = Logger(label: "conveyor.test") { label in
            ConveyorLogHandler(label: label, format: .json, write: { lines.add($0) })
        }
        logger.logLevel = .debug
        let context = FunctionContext(configuration: Configuration(environment: Harness.environment()), manifest: try Harness.manifest(), logger: logger)
        let password = "smtp-pass-\(UUID().uuidString.prefix(8))"
        func send(_ method: String, _ path: String, _ body: String?, key: String?, id: String) -> HTTPResponse {
            var request = HTTPRequest(method: method, path: path, headers: ["content-type": "application/json"].merging(key.map { ["x-api-key": $0] } ?? [:]) { $1 },
                                      body: Data((body ?? "").utf8))
            request.requestId = id
            return h.router.handle(request, context: context)
        }
        let ok = send("POST", "/v1/jobs", #"{"kind":"noop","queue":"\#(h.queue)","payload":{"p":"\#(password)"}}"#, key: h.key, id: "req-ok")
        #expect(ok.status == 201)
        #expect(ok.header("X-Request-Id") == "req-ok")
        let refused = send("POST", "/v1/jobs", #"{"kind":"noop"}"#, key: h.key + "x", id: "req-401")
        #expect(refused.status == 401)
        #expect(refused.header("X-Request-Id") == "req-401")
        #expect(try JSONValue.parse(refused.body)["error"]?["requestId"] == "req-401")
        let batch = send("POST", "/v1/process-batch", #"{"queues":["\#(h.queue)"]}"#, key: Harness.processorKey, id: "req-batch")
        #expect(batch.status == 200)
        // A target's signing secret (whsec_) is answered once, and never logged.
        let target = send("PUT", "/v1/targets/log-hook", #"{"url":"https://hooks.example.com/x"}"#, key: h.key, id: "req-target")
        #expect(target.status == 201)
        let whsec = try #require(try JSONValue.parse(target.body)["secret"]?.stringValue)
        #expect(whsec.hasPrefix("whsec_"))
        let rotated = send("POST", "/v1/targets/log-hook/rotate", "{}", key: h.key, id: "req-rotate")
        #expect(rotated.status == 200)
        let missing = send("GET", "/v1/nowhere", nil, key: nil, id: "req-404")
        #expect(try JSONValue.parse(missing.body)["error"]?["requestId"] == "req-404")

        let parsed = try lines.list.map { try JSONValue.parse(String($0.dropLast())) }
        #expect(parsed.count >= 4)
        for line in parsed {
            #expect(line["requestId"]?.stringValue?.hasPrefix("req-") == true, "\(line)")
        }
        func requestLine(_ id: String) -> JSONValue? { parsed.first { $0["requestId"] == .string(id) && $0["message"] == "request" } }
        #expect(requestLine("req-ok")?["function"] == "enqueue")
        #expect(requestLine("req-ok")?["org"] == .string("\(h.orgId)"))
        #expect(requestLine("req-ok")?["status"] == "201")
        #expect(requestLine("req-401")?["status"] == "401")
        #expect(requestLine("req-batch")?["function"] == "process-batch")
        #expect(requestLine("req-404")?["status"] == "404")
        let all = lines.list.joined()
        for secret in [h.key, Harness.processorKey, Harness.adminKey, password, whsec] { #expect(!all.contains(secret)) }
        #expect(!all.contains("whsec_"))
        // The context's own logger carries nothing of the last request once it is answered.
        #expect(context.logger[metadataKey: "requestId"] == nil)
    }
}
