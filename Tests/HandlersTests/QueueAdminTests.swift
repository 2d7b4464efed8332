import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// The queue admin functions through the router: keys, validation, replace and merge.
struct QueueAdminTests {
    @Test func onlyTheAdminKeyMayReadOrChangeQueues() throws {
        let h = try Harness()
        let path = "/v1/queues/\(h.queue)"
        #expect(h.call("GET", "/v1/queues", key: .some(nil)).status == 401)
        #expect(h.call("GET", "/v1/queues", key: "wrong-key").status == 401)
        #expect(h.call("GET", "/v1/queues").status == 403)  // the tenant's key
        #expect(h.call("PUT", path, body: #"{"concurrency":1}"#, key: Harness.processorKey).status == 403)
        #expect(h.call("POST", path, body: #"{"paused":true}"#).status == 403)
        #expect(try PostgresJobStore(connection: h.db).queueSettings(named: h.queue) == nil, "refused calls changed nothing")
        #expect(h.call("GET", "/v1/queues", key: Harness.adminKey).status == 200)
    }

    @Test func putReplacesPostMergesGetReads() throws {
        let h = try Harness()
        let path = "/v1/queues/\(h.queue)"
        let created = h.call("PUT", path, body: #"{"concurrency":2,"rateLimit":{"limit":10,"periodSeconds":60},"paused":true}"#, key: Harness.adminKey)
        #expect(created.status == 201)
        #expect(created.json["name"] == .string(h.queue))
        #expect(created.json["concurrency"] == 2)
        #expect(created.json["rateLimit"] == (try JSONValue.parse(#"{"limit":10,"periodSeconds":60}"#)))
        #expect(created.json["maxAttempts"] == .null)

        let merged = h.call("POST", path, body: #"{"paused":false,"maxAttempts":5}"#, key: Harness.adminKey)
        #expect(merged.status == 200)
        #expect(merged.json["concurrency"] == 2 && merged.json["paused"] == false && merged.json["maxAttempts"] == 5)

        let replaced = h.call("PUT", path, body: #"{"retention":{"completedSeconds":3600}}"#, key: Harness.adminKey)
        #expect(replaced.status == 200)
        #expect(replaced.json["concurrency"] == .null && replaced.json["rateLimit"] == .null && replaced.json["maxAttempts"] == .null)
        #expect(replaced.json["retention"] == (try JSONValue.parse(#"{"completedSeconds":3600,"deadSeconds":null}"#)))

        let one = h.call("GET", path, key: Harness.adminKey)
        #expect(one.status == 200 && one.json == replaced.json)
        let all = h.call("GET", "/v1/queues", key: Harness.adminKey)
        #expect(all.json["queues"].map { list in
            if case .array(let items) = list { return items.contains(replaced.json) }
            return false
        } == true)
        #expect(h.call("GET", "/v1/queues/unconfigured-\(h.queue)", key: Harness.adminKey).status == 404)
    }

    @Test(arguments: [
        (#"{"concurrency":0}"#, "concurrency"),
        (#"{"rateLimit":{"limit":10}}"#, "rateLimit.periodSeconds"),
        (#"{"paused":"no"}"#, "paused"),
        (#"{"burst":3}"#, "burst"),
        (#"[1]"#, nil),
    ])
    func invalidSettingsAre422NamingTheField(body: String, field: String?) throws {
        let h = try Harness()
        let answer = h.call("PUT", "/v1/queues/\(h.queue)", body: body, key: Harness.adminKey)
        #expect(answer.status == 422)
        #expect(answer.errorCode == "invalid_input")
        #expect(answer.json["error"]?["details"]?["field"]?.stringValue == field)
        #expect(try PostgresJobStore(connection: h.db).queueSettings(named: h.queue) == nil)
    }

    @Test func malformedBodiesAndNamesAreRefused() throws {
        let h = try Harness()
        #expect(h.call("PUT", "/v1/queues/\(h.queue)", body: "{nope", key: Harness.adminKey).status == 400)
        let badName = h.call("PUT", "/v1/queues/Bad%20Name", body: "{}", key: Harness.adminKey)
        #expect(badName.status == 422 && badName.json["error"]?["details"]?["field"] == "name")
    }

    /// uniqueFor through enqueue: the duplicate answers like an idempotency duplicate.
    @Test func enqueueWithUniqueForAnswersDuplicates() throws {
        let h = try Harness()
        let body = #"{"kind":"noop","queue":"\#(h.queue)","payload":{"report":"daily"},"uniqueFor":300}"#
        let first = h.enqueue(body)
        #expect(first.status == 201 && first.json["duplicate"] == false)
        let second = h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","uniqueFor":300,"payload":{ "report" : "daily" }}"#)
        #expect(second.status == 200 && second.json["duplicate"] == true && second.id == first.id)
        let bad = h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","uniqueFor":0}"#)
        #expect(bad.status == 422 && bad.json["error"]?["details"]?["field"] == "uniqueFor")
    }
}
