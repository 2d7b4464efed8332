import Foundation
import Handlers
import JobQueue
import Testing

/// Bad input gets its documented status and code, and the database is left unchanged.
struct BadInputTests {
    enum Key { case tenant, none, wrong, processor, admin }

    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var method = "POST"
        var path = "/v1/jobs"
        var body: String?
        var key = Key.tenant
        var contentType = "application/json"
        var status: Int
        var code: String
        var field: String?
        var description: String { name }
    }

    static let bigPayload = #"{"kind":"noop","payload":{"blob":""# + String(repeating: "x", count: 300 * 1024) + #""}}"#

    static let cases: [Case] = [
        Case(name: "malformed JSON", body: #"{"kind": "noop""#, status: 400, code: "invalid_json"),
        Case(name: "not JSON at all", body: "kind=noop", status: 400, code: "invalid_json"),
        Case(name: "empty body", body: "", status: 400, code: "invalid_json"),
        Case(name: "array body", body: "[1,2]", status: 422, code: "invalid_input"),
        Case(name: "wrong type for kind", body: #"{"kind": 5}"#, status: 422, code: "invalid_input", field: "kind"),
        Case(name: "wrong type for priority", body: #"{"kind":"noop","priority":"high"}"#, status: 422, code: "invalid_input", field: "priority"),
        Case(name: "fractional priority", body: #"{"kind":"noop","priority":1.5}"#, status: 422, code: "invalid_input", field: "priority"),
        Case(name: "missing kind", body: #"{"payload":{}}"#, status: 422, code: "invalid_input", field: "kind"),
        Case(name: "300 KiB payload", body: bigPayload, status: 422, code: "invalid_input", field: "payload"),
        Case(name: "unknown kind", body: #"{"kind":"launch-rockets"}"#, status: 422, code: "invalid_input", field: "kind"),
        Case(name: "negative delay", body: #"{"kind":"noop","delaySeconds":-5}"#, status: 422, code: "invalid_input", field: "delaySeconds"),
        Case(name: "bad runAt", body: #"{"kind":"noop","runAt":"next tuesday"}"#, status: 422, code: "invalid_input", field: "runAt"),
        Case(name: "unknown field", body: #"{"kind":"noop","delay":5}"#, status: 422, code: "invalid_input", field: "delay"),
        Case(name: "payload not an object", body: #"{"kind":"noop","payload":[1]}"#, status: 422, code: "invalid_input", field: "payload"),
        Case(name: "empty batch", body: #"{"jobs":[]}"#, status: 422, code: "invalid_input", field: "jobs"),
        Case(name: "one bad job spoils the batch", body: #"{"jobs":[{"kind":"noop"},{"kind":"noop","maxAttempts":0}]}"#,
             status: 422, code: "invalid_input", field: "jobs[1].maxAttempts"),
        Case(name: "wrong content type", body: #"{"kind":"noop"}"#, contentType: "text/plain", status: 415, code: "unsupported_media_type"),
        Case(name: "missing key", body: #"{"kind":"noop"}"#, key: .none, status: 401, code: "unauthorized"),
        Case(name: "wrong key", body: #"{"kind":"noop"}"#, key: .wrong, status: 401, code: "unauthorized"),
        Case(name: "processor key on a tenant function", body: #"{"kind":"noop"}"#, key: .processor, status: 403, code: "forbidden"),
        Case(name: "admin key on a tenant function", body: #"{"kind":"noop"}"#, key: .admin, status: 403, code: "forbidden"),
        Case(name: "tenant key on process-batch", path: "/v1/process-batch", body: "{}", key: .tenant, status: 403, code: "forbidden"),
        Case(name: "no key on process-batch", path: "/v1/process-batch", body: "{}", key: .none, status: 401, code: "unauthorized"),
        Case(name: "process-batch maxJobs too big", path: "/v1/process-batch", body: #"{"maxJobs":20000}"#, key: .processor,
             status: 422, code: "invalid_input", field: "maxJobs"),
        Case(name: "process-batch bad queue", path: "/v1/process-batch", body: #"{"queues":["NO SPACES"]}"#, key: .processor,
             status: 422, code: "invalid_input", field: "queues[0]"),
        Case(name: "process-batch misspelt option", path: "/v1/process-batch", body: #"{"queue":["default"]}"#, key: .processor,
             status: 422, code: "invalid_input", field: "queue"),
        Case(name: "body over the limit", path: "/v1/process-batch", body: "{" + String(repeating: " ", count: 5000) + "}", key: .processor,
             status: 413, code: "payload_too_large"),
        Case(name: "wrong method", method: "DELETE", body: nil, status: 405, code: "method_not_allowed"),
        Case(name: "no such path", path: "/v1/nothing-here", body: "{}", status: 404, code: "not_found"),
        Case(name: "job-only kind has no route", path: "/v1/noop", body: "{}", status: 404, code: "not_found"),
        Case(name: "job id not a number", method: "GET", path: "/v1/jobs/abc", status: 404, code: "not_found"),
        Case(name: "NUL in a payload string", body: #"{"kind":"noop","payload":{"a":"x\u0000y"}}"#, status: 422, code: "invalid_input", field: "payload"),
        // The executor's fields.
        Case(name: "parallelism 0", path: "/v1/process-batch", body: #"{"parallelism":0}"#, key: .processor,
             status: 422, code: "invalid_input", field: "parallelism"),
        Case(name: "parallelism 10^9", path: "/v1/process-batch", body: #"{"parallelism":1000000000}"#, key: .processor,
             status: 422, code: "invalid_input", field: "parallelism"),
        Case(name: "fractional parallelism", path: "/v1/process-batch", body: #"{"parallelism":2.5}"#, key: .processor,
             status: 422, code: "invalid_input", field: "parallelism"),
        Case(name: "negative waitSeconds", path: "/v1/process-batch", body: #"{"waitSeconds":-1}"#, key: .processor,
             status: 422, code: "invalid_input", field: "waitSeconds"),
        Case(name: "waitSeconds past maxSeconds", path: "/v1/process-batch", body: #"{"maxSeconds":5,"waitSeconds":6}"#, key: .processor,
             status: 422, code: "invalid_input", field: "waitSeconds"),
        Case(name: "waitSeconds as text", path: "/v1/process-batch", body: #"{"waitSeconds":"20"}"#, key: .processor,
             status: 422, code: "invalid_input", field: "waitSeconds"),
        Case(name: "negative timeout", body: #"{"kind":"noop","timeoutSeconds":-1}"#, status: 422, code: "invalid_input", field: "timeoutSeconds"),
        Case(name: "timeout over the kind's limit", body: #"{"kind":"fail","timeoutSeconds":31}"#, status: 422, code: "invalid_input", field: "timeoutSeconds"),
        Case(name: "timeout not a number", body: #"{"kind":"noop","timeoutSeconds":"5s"}"#, status: 422, code: "invalid_input", field: "timeoutSeconds"),
        Case(name: "10 kB flow key", body: #"{"kind":"noop","flowKey":""# + String(repeating: "k", count: 10_000) + #""}"#,
             status: 422, code: "invalid_input", field: "flowKey"),
        Case(name: "NUL in a flow key", body: #"{"kind":"noop","flowKey":"a\u0000b"}"#, status: 422, code: "invalid_input", field: "flowKey"),
        Case(name: "empty flow key", body: #"{"kind":"noop","flowKey":""}"#, status: 422, code: "invalid_input", field: "flowKey"),
        Case(name: "a kind moved out of its queue", body: #"{"kind":"send-email","queue":"default","payload":{}}"#,
             status: 422, code: "invalid_input", field: "queue"),
        Case(name: "route-intake moved out of its queue", body: #"{"kind":"route-intake","queue":"fast","payload":{"requestId":1}}"#,
             status: 422, code: "invalid_input", field: "queue"),
        Case(name: "a bad flow key in a batch", body: #"{"jobs":[{"kind":"noop"},{"kind":"noop","flowKey":"x\u0001"}]}"#,
             status: 422, code: "invalid_input", field: "jobs[1].flowKey"),
        Case(name: "NUL in a payload key", body: #"{"kind":"noop","payload":{"a\u0000":1}}"#, status: 422, code: "invalid_input", field: "payload"),
    ]

    @Test(arguments: cases)
    func rejected(c: Case) throws {
        let h = try Harness()
        let before = try h.jobCount()
        let key: String?
        switch c.key {
        case .tenant: key = h.key
        case .none: key = nil
        case .wrong: key = "cvk_" + String(repeating: "0", count: 64)
        case .processor: key = Harness.processorKey
        case .admin: key = Harness.adminKey
        }
        let answer = h.call(c.method, c.path, body: c.body, key: .some(key), headers: ["content-type": c.contentType])
        #expect(answer.status == c.status)
        #expect(answer.errorCode == c.code)
        #expect(answer.json["error"]?["message"]?.stringValue?.isEmpty == false)
        if let field = c.field {
            #expect(answer.json["error"]?["details"]?["field"] == .string(field))
        }
        #expect(answer.response.header("content-type") == "application/json")
        #expect(try h.jobCount() == before)
        // No key or body ever comes back in an error.
        let text = String(decoding: answer.response.body, as: UTF8.self)
        #expect(!text.contains(h.key) && !text.contains(Harness.processorKey) && !text.contains(Harness.adminKey))
    }

    /// Query filters reach SQL as binds; a NUL byte or a bad name must be a 422, not a 500.
    @Test(arguments: [["queue": "a\u{0}b"], ["kind": "x\u{0}"], ["queue": "NOT VALID"], ["kind": ""]])
    func listFiltersAreValidated(query: [String: String]) throws {
        let h = try Harness()
        let answer = h.call("GET", "/v1/jobs", query: query)
        #expect(answer.status == 422)
        #expect(answer.errorCode == "invalid_input")
    }

    @Test func anotherOrgsJobIsA404LikeAMissingOne() throws {
        let alice = try Harness()
        let bob = try Harness()
        let id = try #require(alice.enqueue(#"{"kind":"noop","queue":"\#(alice.queue)","payload":{"secret":"alice's"}}"#).id)
        let stolen = bob.status(id)
        let missing = bob.status(id + 1_000_000_000)
        #expect(stolen.status == 404)
        #expect(stolen.errorCode == "not_found")
        #expect(stolen.response.body == missing.response.body)
        #expect(!String(decoding: stolen.response.body, as: UTF8.self).contains("alice"))
        #expect(alice.status(id).status == 200)
    }

    @Test func unknownKindNamesTheKnownKinds() throws {
        let h = try Harness()
        let answer = h.enqueue(#"{"kind":"launch-rockets"}"#)
        let known = answer.json["error"]?["details"]?["knownKinds"]
        // Every deferrable function of the manifest, by name, so the client can correct itself.
        #expect(known == .array(try Harness.manifest().jobKinds.names.map { .string($0) }))
        if case .array(let names)? = known { #expect(names.contains(.string("noop"))) } else { Issue.record("no knownKinds") }
    }
}
