import Foundation
import Handlers
import JobQueue
import Testing

/// Requests a host hands over together (`Router.handle(all:)`): every one gets the answer it
/// would get alone, and enqueues of different tenants share a commit without mixing their jobs.
struct SharedRequestsTests {
    func request(_ h: Harness, _ method: String, _ path: String, body: String = "", key: String?) -> HTTPRequest {
        var headers = ["content-type": "application/json"]
        if let key { headers["x-api-key"] = key }
        return HTTPRequest(method: method, path: path, headers: headers, body: Data(body.utf8))
    }

    @Test func eachRequestGetsTheAnswerItWouldGetAlone() throws {
        let a = try Harness(), b = try Harness()
        let existing = try #require(a.enqueue(#"{"kind":"noop","queue":"\#(a.queue)","idempotencyKey":"once"}"#).id)
        let requests = [
            request(a, "POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(a.queue)","payload":{"from":"a"}}"#, key: a.key),
            request(b, "POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(b.queue)","payload":{"from":"b"}}"#, key: b.key),
            request(a, "POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(a.queue)""#, key: a.key),                 // bad JSON
            request(a, "POST", "/v1/jobs", body: #"{"kind":"nope","queue":"\#(a.queue)"}"#, key: a.key),               // unknown kind
            request(b, "POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(b.queue)"}"#, key: "wrong-key"),
            request(a, "GET", "/v1/jobs/\(existing)", key: a.key),
            request(a, "POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(a.queue)","idempotencyKey":"once"}"#, key: a.key),
            request(b, "POST", "/v1/jobs", body: #"{"jobs":[{"kind":"noop","queue":"\#(b.queue)"},{"kind":"noop","queue":"\#(b.queue)"}]}"#, key: b.key),
            request(b, "GET", "/v1/jobs/\(existing)", key: b.key),                                                    // a's job
        ]
        let together = a.router.handle(all: requests, context: a.context).map(Answer.init)
        #expect(together.map(\.status) == [201, 201, 400, 422, 401, 200, 200, 201, 404])
        #expect(together[6].id == existing)
        #expect(together[6].json["duplicate"] == .bool(true))
        #expect(together[7].json["inserted"] == .int(2))

        // Every new job is its caller's, in its caller's queue.
        let idA = try #require(together[0].id), idB = try #require(together[1].id)
        #expect(a.status(idA).json["payload"]?["from"] == .string("a"))
        #expect(b.status(idB).json["payload"]?["from"] == .string("b"))
        #expect(a.status(idB).status == 404)
        #expect(try a.jobCount() == 2)
        #expect(try b.jobCount() == 3)

        // The same requests one by one give the same statuses and error codes.
        let alone = requests.map { a.router.handle($0, context: a.context) }.map(Answer.init)
        #expect(alone.map(\.status) == [201, 201, 400, 422, 401, 200, 200, 201, 404])
        #expect(alone.map(\.errorCode) == together.map(\.errorCode))
    }

    @Test func enqueuesThatArriveTogetherShareOneTransaction() throws {
        let a = try Harness(), b = try Harness()
        let requests = (0..<6).map { i in
            let h = i % 2 == 0 ? a : b
            return request(h, "POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(h.queue)","payload":{"i":\#(i)}}"#, key: h.key)
        }
        let answers = a.router.handle(all: requests, context: a.context).map(Answer.init)
        #expect(answers.map(\.status) == Array(repeating: 201, count: 6))
        let ids = answers.compactMap(\.id)
        // One statement: one transaction id for all six rows.
        let xids = try a.db.query("SELECT count(DISTINCT xmin::text)::int AS n FROM conveyor_jobs WHERE id = ANY(\(ids)::bigint[])")[0]
        #expect(try xids.decode("n", as: Int.self) == 1)
        #expect(try a.jobCount() == 3)
        #expect(try b.jobCount() == 3)
    }
}

/// Which requests a host may hold for company and answer in a group.
struct ShareableRequestTests {
    @Test(arguments: [
        ("POST", "/v1/jobs", #"{"kind":"noop","queue":"q","payload":{"a":1}}"#, true),
        ("POST", "/v1/jobs", #"{"kind":"noop","queue":"q","idempotencyKey":"k"}"#, true),
        ("POST", "/v1/jobs", #"{"jobs":[{"kind":"noop","queue":"q"}]}"#, false),        // a batch body inserts on its own
        ("POST", "/v1/jobs", #"{"kind":"noop","queue":"q","uniqueFor":60}"#, false),    // windows lock on their own
        ("POST", "/v1/jobs", #"{"kind":"noop","queue":"q","payload":{"jobs":2}}"#, false), // merely mentioned: alone, only slower
        ("GET", "/v1/jobs/1", "", false),
        ("POST", "/v1/process-batch", #"{"maxJobs":10}"#, false),
        ("POST", "/v1/nowhere", #"{"kind":"noop"}"#, false),
    ])
    func onlySingleJobEnqueuesShare(_ method: String, _ path: String, _ body: String, _ shares: Bool) throws {
        let router = try Router(manifest: Harness.manifest())
        #expect(router.canShare(method: method, path: path, body: Array(body.utf8)) == shares)
    }
}

extension ShareableRequestTests {
    @Test func aLargeBodyIsAnsweredAloneWithoutAScan() throws {
        let router = try Router(manifest: Harness.manifest())
        let padding = String(repeating: "x", count: 20_000)
        #expect(!router.canShare(method: "POST", path: "/v1/jobs", body: Array(#"{"kind":"noop","queue":"q","payload":{"p":"\#(padding)"}}"#.utf8)))
    }
}
