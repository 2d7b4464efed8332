import Foundation
@testable import Handlers
import JobQueue
import Postgres
import Testing

/// What HTTP says besides the body: Location for what was created, WWW-Authenticate with a 401,
/// Retry-After with a 429 or 503; numbers kept digit for digit; dates that do not exist refused.
struct HTTPSemanticsTests {
    static let digits = #"{"n":12345678901234567890,"neg":-98765432109876543210987654321,"pi":3.14159265358979323846264338327950288,"huge":1e400,"f":0.1,"i":7}"#

    @Test func payloadAndResultNumbersKeepEveryDigit() throws {
        let h = try Harness()
        let created = h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","payload":\#(Self.digits)}"#)
        #expect(created.status == 201)
        let id = try #require(created.id)
        // Stored as jsonb's numeric, every digit.
        let stored = try h.db.query("SELECT payload->>'n' AS n, payload->>'pi' AS pi, payload->>'neg' AS neg FROM conveyor_jobs WHERE id = \(id)")[0]
        #expect(try stored.decode("n") as String == "12345678901234567890")
        #expect(try stored.decode("pi") as String == "3.14159265358979323846264338327950288")
        #expect(try stored.decode("neg") as String == "-98765432109876543210987654321")
        #expect(h.process().json["completed"] == .int(1))
        // Returned with every digit, in the payload and in the result noop echoed.
        let text = String(decoding: h.status(id).response.body, as: UTF8.self)
        for literal in [#""n":12345678901234567890"#, #""neg":-98765432109876543210987654321"#,
                        #""pi":3.14159265358979323846264338327950288"#, #""f":0.1"#, #""i":7"#] {
            #expect(text.components(separatedBy: literal).count == 3, "\(literal) in payload and result: \(text)")
        }
        // jsonb writes 1e400 out in full; the digits are the same number.
        #expect(text.contains(#""huge":1"# + String(repeating: "0", count: 400)))
        // The admin view of the same job writes it the same way.
        let later = try #require(h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","delaySeconds":3600,"payload":\#(Self.digits)}"#).id)
        let admin = String(decoding: h.call("POST", "/v1/admin/jobs/\(later)/cancel", key: Harness.adminKey).response.body, as: UTF8.self)
        #expect(admin.contains(#""n":12345678901234567890"#), "\(admin)")
    }

    /// A typed field stays a number of its type: out of range is a 422 naming it.
    @Test(arguments: [("priority", "12345678901234567890"), ("delaySeconds", "1e400"), ("maxAttempts", "99999999999999999999"),
                      ("timeoutSeconds", "1e400"), ("delaySeconds", "-1e400")])
    func typedFieldsOutOfRangeAre422(field: String, literal: String) throws {
        let h = try Harness()
        let answer = h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","\#(field)":\#(literal)}"#)
        #expect(answer.status == 422)
        #expect(answer.json["error"]?["details"]?["field"] == .string(field))
        #expect(try h.jobCount() == 0)
    }

    @Test(arguments: ["2026-02-31T00:00:00Z", "2025-02-29T10:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T00:00:00+25:00"])
    func datesThatDoNotExistAre422(runAt: String) throws {
        let h = try Harness()
        let answer = h.enqueue(#"{"kind":"noop","queue":"\#(h.queue)","runAt":"\#(runAt)"}"#)
        #expect(answer.status == 422)
        #expect(answer.json["error"]?["details"]?["field"] == .string("runAt"))
        #expect(try h.jobCount() == 0)
    }

    /// Every 201 and 202 says where its resource is, and the place answers.
    @Test func createdAndAcceptedAnswersCarryALocationThatAnswers() throws {
        let queue = Harness.newQueue()
        let h = try Harness(manifest: Harness.manifest(pinning: ["send-email", "route-intake"], to: queue), queue: queue,
                            environment: ["SMTP_URL": "smtp://127.0.0.1:9?tls=none", "SMTP_FROM_EMAIL": "noreply@sender.example"])
        func follow(_ answer: Answer, _ expected: String, key: String?? = nil) {
            #expect(answer.response.header("Location") == expected, "\(answer.status) \(answer.json)")
            #expect(h.call("GET", expected, key: key).status == 200, "GET \(expected)")
        }
        let job = h.enqueue(#"{"kind":"noop","queue":"\#(queue)","idempotencyKey":"loc-1"}"#)
        #expect(job.status == 201)
        follow(job, "/v1/jobs/\(try #require(job.id))")
        let again = h.enqueue(#"{"kind":"noop","queue":"\#(queue)","idempotencyKey":"loc-1"}"#)
        #expect(again.status == 200)
        #expect(again.response.header("Location") == nil)

        let mail = h.call("POST", "/v1/email", body: #"{"to":"a@example.com","subject":"s","text":"t"}"#)
        #expect(mail.status == 202)
        follow(mail, "/v1/jobs/\(try #require(mail.json["jobId"]?.intValue))")

        let deferred = h.call("POST", "/v1/intake/route", body: #"{"title":"Refund","source":"FORM","defer":true}"#)
        #expect(deferred.status == 202)
        follow(deferred, "/v1/jobs/\(try #require(deferred.json["jobId"]?.intValue))")

        let pipeline = h.call("POST", "/v1/pipelines", body: #"{"name":"Billing","description":"Refunds"}"#)
        #expect(pipeline.status == 201, "\(pipeline.json)")
        follow(pipeline, "/v1/pipelines/\(try #require(pipeline.json["id"]?.intValue))")
        #expect(h.call("GET", "/v1/pipelines/999999999").status == 404)

        let target = h.call("PUT", "/v1/targets/loc-hook", body: #"{"url":"https://hooks.example.com/x"}"#)
        #expect(target.status == 201)
        follow(target, "/v1/targets/loc-hook")

        let queueName = "loc-\(queue)".prefix(60)
        let settings = h.call("PUT", "/v1/queues/\(queueName)", body: #"{"concurrency":3}"#, key: Harness.adminKey)
        #expect(settings.status == 201, "\(settings.json)")
        follow(settings, "/v1/queues/\(queueName)", key: Harness.adminKey)
        _ = try h.db.execute("DELETE FROM conveyor_queues WHERE name = \(String(queueName))")
    }

    @Test(arguments: APIError.Code.allCases)
    func statusesCarryTheHeadersHTTPAsksFor(code: APIError.Code) {
        let response = HTTPResponse.error(APIError(code, "x"))
        #expect((response.header("WWW-Authenticate") != nil) == (response.status == 401))
        #expect((response.header("Retry-After") != nil) == [429, 503].contains(response.status))
        if let after = response.header("Retry-After") { #expect((Int(after) ?? 0) >= 1) }
        let later = HTTPResponse.error(APIError(code, "x", retryAfterSeconds: 30))
        if [429, 503].contains(later.status) { #expect(later.header("Retry-After") == "30") }
    }

    @Test func aMissingKeyAnswersWWWAuthenticate() throws {
        let h = try Harness()
        let answer = h.call("GET", "/v1/jobs", key: .some(nil))
        #expect(answer.status == 401)
        #expect(answer.response.header("WWW-Authenticate") == #"Bearer realm="conveyor""#)
    }

    @Test(arguments: [("a-b_c.d~e", "a-b_c.d~e"), ("a b/c\r\nX: y", "a%20b%2Fc%0D%0AX%3A%20y"), ("é", "%C3%A9")])
    func locationSegmentsAreEncoded(raw: String, encoded: String) {
        #expect(PercentDecoding.encodeSegment(raw) == encoded)
    }
}
