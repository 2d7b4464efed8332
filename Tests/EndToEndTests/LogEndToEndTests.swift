import Foundation
import Handlers
import JobQueue
import Testing

/// Through nginx: the id nginx gives a request comes back to the client (X-Request-Id and the
/// envelope) and is on fcgi-host's JSON log line for it, with the function, org and status.
struct LogEndToEndTests {
    @Test func aClientsRequestIdFindsItsLogLine() throws {
        var options = Stack.Options(workers: 1)
        options.environment = ["CONVEYOR_LOG_FORMAT": "json", "CONVEYOR_LOG_LEVEL": "debug"]
        let stack = try Stack(options)
        defer { stack.stop() }
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        let refused = try web.call("POST", "/v1/jobs", body: #"{"kind":"noop"}"#, key: tenant.key + "x")
        #expect(refused.status == 401)
        let refusedId = try #require(refused.headers.first { $0.0.lowercased() == "x-request-id" }?.1)
        #expect(refusedId.count == 32 && refusedId.allSatisfy(\.isHexDigit), "nginx's $request_id: \(refusedId)")
        #expect(refused.json["error"]?["requestId"]?.stringValue == refusedId)
        let created = try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key)
        #expect(created.status == 201)
        let createdId = try #require(created.headers.first { $0.0.lowercased() == "x-request-id" }?.1)

        let log = stack.dir.appendingPathComponent("fcgi-host.log")
        var lines: [JSONValue] = []
        try stack.waitFor("the request lines in fcgi-host.log", timeout: 10) {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            lines = text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
            return [refusedId, createdId].allSatisfy { id in lines.contains { $0["requestId"]?.stringValue == id } }
        }
        let text = try String(contentsOf: log, encoding: .utf8)
        // Every line the host wrote is one JSON object.
        #expect(text.split(separator: "\n").allSatisfy { (try? JSONValue.parse(String($0)))?.objectValue != nil })
        let refusedLine = try #require(lines.first { $0["requestId"]?.stringValue == refusedId && $0["message"] == "request" })
        #expect(refusedLine["function"] == "enqueue")
        #expect(refusedLine["status"] == "401")
        let createdLine = try #require(lines.first { $0["requestId"]?.stringValue == createdId && $0["message"] == "request" })
        #expect(createdLine["status"] == "201")
        #expect(createdLine["org"]?.stringValue?.isEmpty == false)
        #expect(!text.contains(tenant.key.dropFirst(4).prefix(12)))
        #expect(!text.contains(Stack.processorKey) && !text.contains(Stack.adminKey))
    }

    @Test(arguments: ["fcgi-host", "local-host", "cron-driver"])
    func aWrongLogSettingStopsAProgramWithOneLine(binary: String) throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("log-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: out) }
        let args = binary == "cron-driver" ? ["run", "--crontab", "/nonexistent"] : binary == "fcgi-host" ? ["serve", "--listen", "127.0.0.1:0"] : ["migrate"]
        let result = try ChildProcess.run(Stack.binDir.appendingPathComponent(binary).path, args,
                                          environment: ["PATH": "/usr/bin:/bin", "CONVEYOR_LOG_FORMAT": "yaml"], outputFile: out)
        #expect(result.status == 2)
        let said = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(said == "\(binary): CONVEYOR_LOG_FORMAT must be text or json", "\(said)")
    }
}
