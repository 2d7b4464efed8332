import Foundation
import JobQueue
import Testing

struct JobRequestTests {
    static let kinds = JobKinds([.init(name: "noop", queue: "default", retry: RetryPolicy(maxAttempts: 4))])

    @Test func aValidTraceparentIsKept() throws {
        let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        #expect(try JobRequest(kind: "noop", traceparent: trace).validated(kinds: Self.kinds).traceparent == trace)
        #expect(try JobRequest(json: JSONValue.parse(#"{"kind": "noop", "traceparent": "\#(trace)"}"#)).traceparent == trace)
    }

    @Test func defaultsComeFromTheKind() throws {
        let job = try JobRequest(kind: "noop").validated(kinds: Self.kinds)
        #expect(job.queue == "default")
        #expect(job.maxAttempts == 4)
        #expect(job.priority == 0)
        #expect(job.payloadJSON == "{}")
    }

    /// Each bad request names its field.
    @Test(arguments: [
        (JobRequest(kind: nil), "kind"),
        (JobRequest(kind: "nope"), "kind"),
        (JobRequest(kind: "noop", payload: .array([])), "payload"),
        (JobRequest(kind: "noop", payload: .object(["x": .string(String(repeating: "a", count: 300 * 1024))])), "payload"),
        (JobRequest(kind: "noop", queue: "Has Spaces"), "queue"),
        (JobRequest(kind: "noop", queue: ""), "queue"),
        (JobRequest(kind: "noop", priority: 101), "priority"),
        (JobRequest(kind: "noop", priority: -101), "priority"),
        (JobRequest(kind: "noop", delaySeconds: -1), "delaySeconds"),
        (JobRequest(kind: "noop", delaySeconds: 1e12), "delaySeconds"),
        (JobRequest(kind: "noop", delaySeconds: 1, runAt: Date()), "runAt"),
        (JobRequest(kind: "noop", maxAttempts: 0), "maxAttempts"),
        (JobRequest(kind: "noop", maxAttempts: 101), "maxAttempts"),
        (JobRequest(kind: "noop", idempotencyKey: ""), "idempotencyKey"),
        (JobRequest(kind: "noop", idempotencyKey: "a\nb"), "idempotencyKey"),
        (JobRequest(kind: "noop", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"), "traceparent"),
        (JobRequest(kind: "noop", traceparent: "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"), "traceparent"),
        (JobRequest(kind: "noop", traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01"), "traceparent"),
        (JobRequest(kind: "noop", traceparent: "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"), "traceparent"),
        (JobRequest(kind: "noop", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nX: y"), "traceparent"),
    ])
    func rejects(request: JobRequest, field: String) {
        #expect(throws: JobQueueError.self) { try request.validated(kinds: Self.kinds) }
        do {
            _ = try request.validated(kinds: Self.kinds, field: "jobs[2]")
        } catch let e as JobQueueError {
            #expect(e.code == .invalidInput)
            #expect(e.field == "jobs[2].\(field)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func unknownKindListsKnownKinds() {
        do {
            _ = try JobRequest(kind: "nope").validated(kinds: Self.kinds)
            Issue.record("accepted an unknown kind")
        } catch let e as JobQueueError {
            #expect(e.details["knownKinds"] == .array([.string("noop")]))
            #expect(e.message.contains("noop"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    /// JSON of the wrong shape names the field, under the batch prefix.
    @Test(arguments: [
        (#"{"kind":"noop","delay_seconds":5}"#, "jobs[0].delay_seconds"),
        (#"{"kind":5}"#, "jobs[0].kind"),
        (#"{"kind":"noop","priority":1.5}"#, "jobs[0].priority"),
        (#"{"kind":"noop","priority":"high"}"#, "jobs[0].priority"),
        (#"{"kind":"noop","delaySeconds":"5"}"#, "jobs[0].delaySeconds"),
        (#"{"kind":"noop","runAt":"soon"}"#, "jobs[0].runAt"),
        (#"[1]"#, "jobs[0]"),
    ])
    func shapeErrorsNameTheField(json: String, field: String) throws {
        let value = try JSONValue.parse(json)
        do {
            _ = try JobRequest(json: value, field: "jobs[0]")
            Issue.record("accepted \(json)")
        } catch let e as JobQueueError {
            #expect(e.field == field)
        }
    }

    @Test func readsEveryField() throws {
        let r = try JobRequest(json: JSONValue.parse(#"""
            {"kind":"noop","payload":{"a":[1]},"queue":"q","priority":-3,"delaySeconds":2.5,"maxAttempts":7,"idempotencyKey":"k"}
            """#))
        #expect(r.kind == "noop" && r.queue == "q" && r.priority == -3 && r.delaySeconds == 2.5 && r.maxAttempts == 7)
        #expect(r.payload == .object(["a": .array([.int(1)])]))
        #expect(r.idempotencyKey == "k")
        let at = try JobRequest(json: JSONValue.parse(#"{"kind":"noop","runAt":"2030-01-01T00:00:00Z"}"#))
        #expect(at.runAt == Timestamp.parse("2030-01-01T00:00:00Z"))
    }

    @Test(arguments: ["a", "default", "emails.high", "q_1-2", String(repeating: "x", count: 64)])
    func acceptsQueueNames(name: String) { #expect(JobRequest.isValidQueueName(name)) }

    @Test(arguments: ["", "-a", "A", "é", "a b", String(repeating: "x", count: 65)])
    func rejectsQueueNames(name: String) { #expect(!JobRequest.isValidQueueName(name)) }
}
