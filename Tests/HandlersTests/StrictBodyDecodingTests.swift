import Foundation
import Handlers
import Testing

/// Regression for the bad-input corpus: functions decoded through Foundation (process-batch,
/// assign-intake, the diagnostics) answered duplicate keys with 200, last key winning. Every
/// function now refuses malformed JSON the same way, with a 400 in the envelope.
struct StrictBodyDecodingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var path: String
        var body: String
        var key: String
        var testDescription: String { "\(path) \(body.prefix(40))" }
    }

    static let cases: [Case] = [
        Case(path: "/v1/process-batch", body: #"{"maxJobs":1,"maxJobs":2}"#, key: Harness.processorKey),
        Case(path: "/v1/process-batch", body: #"{"queues":["a"],"queues":["b"]}"#, key: Harness.processorKey),
        Case(path: "/v1/process-batch", body: #"{"maxJobs":007}"#, key: Harness.processorKey),
        Case(path: "/v1/process-batch", body: "{\"queues\":[\"\\ud800\"]}", key: Harness.processorKey),
        Case(path: "/v1/process-batch", body: String(repeating: "[", count: 1_000), key: Harness.processorKey),
        Case(path: "/v1/intake/1/assign", body: #"{"pipelineId":1,"pipelineId":2}"#, key: ""),
        // 10,001 keys in one object: over the request bound, refused before any decoding.
        Case(path: "/v1/jobs", body: #"{"kind":"noop","payload":{"# + (0...10_000).map { "\"k\($0)\":0" }.joined(separator: ",") + "}}", key: ""),
    ]

    @Test func tenThousandKeysInAPayloadAreStillAccepted() throws {
        let h = try Harness()
        let payload = (0..<9_999).map { "\"k\($0)\":0" }.joined(separator: ",")
        let answer = h.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(h.queue)","payload":{"# + payload + "}}")
        #expect(answer.status == 201)
    }

    @Test(arguments: cases) func malformedJSONIsA400Everywhere(_ c: Case) throws {
        let h = try Harness()
        let answer = h.call("POST", c.path, body: c.body, key: c.key.isEmpty ? h.key : c.key)
        #expect(answer.status == 400)
        #expect(answer.errorCode == "invalid_json")
    }
}
