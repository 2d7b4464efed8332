import Foundation
import TestSupport
import Handlers
import JobQueue
import Logging
import Postgres
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// send-email through the router and the real engine, delivering to Tests/Fixtures/smtp_scripted.py
/// on 127.0.0.1. Each test has its own org, queue, SMTP server and maildir.
struct SendEmailFunctionTests {
    @Test func postAnswers202AndTheJobDeliversFromTheEmailQueue() throws {
        let m = try MailHarness()
        let answer = m.post(#"{"to":"Ada <ada@example.com>","bcc":"hidden@example.com","subject":"Queued","text":"hello","metadata":{"campaign":7}}"#)
        #expect(answer.status == 202)
        let jobId = try #require(answer.json["jobId"]?.intValue)
        let messageId = try #require(answer.json["messageId"]?.stringValue)
        let row = try m.h.db.query("SELECT queue, kind, max_attempts, payload::text AS p FROM conveyor_jobs WHERE id = \(jobId)")[0]
        // The kind's queue: "email" in functions.json, pinned to the test's own here.
        #expect(try row.decode("queue", as: String.self) == m.h.queue)
        #expect(try row.decode("kind", as: String.self) == "send-email")
        #expect(try row.decode("max_attempts", as: Int.self) == 5)
        let payload = try JSONValue.parse(try row.decode("p", as: String.self))
        #expect(payload["messageId"] == .string(messageId), "retries send the Message-ID fixed at enqueue")
        #expect(payload["metadata"] == .object(["campaign": .int(7)]))
        #expect(m.smtp.storedMessages().isEmpty, "nothing is sent before the job runs")

        // Processing the shared "email" queue would race other tests: move this job to ours.
        try m.h.db.execute("UPDATE conveyor_jobs SET queue = \(m.h.queue) WHERE id = \(jobId)")
        #expect(m.process().json["completed"] == .int(1))
        let status = m.h.status(jobId).json
        #expect(status["state"] == .string("completed"))
        #expect(status["result"] == .object(["messageId": .string(messageId), "accepted": .array(["ada@example.com", "hidden@example.com"]),
                                            "rejected": .array([])]))
        #expect(m.smtp.storedMessages() == [1])
        let raw = try m.smtp.raw(1)
        #expect(raw.contains("\r\nMessage-ID: \(messageId)\r\n"))
        #expect(!raw.lowercased().contains("hidden"), "Bcc only in RCPT TO")
        #expect(m.smtp.rcptLog() == ["ada@example.com", "hidden@example.com"])
    }

    @Test func sendNowAnswers200WithTheResultAndEnqueuesNothing() throws {
        let m = try MailHarness()
        let answer = m.post(#"{"to":["a@example.com","reject550-b@example.com"],"cc":"c@example.com","subject":"Now","html":"<p>hi</p>","sendNow":true}"#)
        #expect(answer.status == 200)
        #expect(answer.json["accepted"] == .array(["a@example.com", "c@example.com"]))
        #expect(answer.json["rejected"]?.mailArray?.first?["code"] == .int(550))
        #expect(answer.json["messageId"]?.stringValue?.hasSuffix("@sender.example>") == true)
        #expect(try m.h.jobCount() == 0)
        #expect(m.smtp.storedMessages() == [1])
    }

    /// sendNow honours idempotencyKey: the second request with the key answers the first
    /// delivery, and the server received one message.
    @Test func sendNowWithAKeySendsOnce() throws {
        let m = try MailHarness()
        let body = #"{"to":"a@example.com","subject":"Once","text":"hi","sendNow":true,"idempotencyKey":"once-1"}"#
        let first = m.post(body)
        #expect(first.status == 200, "\(first.json)")
        let again = m.post(body)
        #expect(again.status == 200)
        #expect(again.json["duplicate"] == .bool(true))
        #expect(again.json["messageId"] == first.json["messageId"])
        #expect(again.json["accepted"] == .array(["a@example.com"]))
        #expect(m.smtp.storedMessages() == [1])
        let row = try m.h.db.query("SELECT state::text AS s, attempt, result->>'messageId' AS id FROM conveyor_jobs WHERE org_id = \(m.h.orgId) AND idempotency_key = 'once-1'")
        #expect(row.count == 1)
        #expect(try row[0].decode("s", as: String.self) == "completed")
        #expect(try row[0].decode("id", as: String.self) == first.json["messageId"]?.stringValue)
        // Queued mode with the same key finds the same send.
        let queued = m.post(#"{"to":"a@example.com","subject":"Once","text":"hi","idempotencyKey":"once-1"}"#)
        #expect(queued.json["duplicate"] == .bool(true))
        #expect(m.smtp.storedMessages() == [1])
    }

    /// A temporary failure sent nothing, so it frees the key; a permanent refusal is kept and
    /// answered again without another SMTP session.
    @Test func sendNowFailuresFreeTheKeyOnlyWhenNothingWasRefusedForGood() throws {
        let m = try MailHarness()
        let later = m.post(#"{"to":"defer451once-a@example.com","subject":"s","text":"t","sendNow":true,"idempotencyKey":"k-451"}"#)
        #expect(later.status == 503, "\(later.json)")
        #expect(try m.h.jobCount() == 0)
        let retried = m.post(#"{"to":"defer451once-a@example.com","subject":"s","text":"t","sendNow":true,"idempotencyKey":"k-451"}"#)
        #expect(retried.status == 200, "\(retried.json)")
        #expect(m.smtp.storedMessages() == [1])

        let refused = m.post(#"{"to":"reject550-b@example.com","subject":"s","text":"t","sendNow":true,"idempotencyKey":"k-550"}"#)
        #expect(refused.status == 422, "\(refused.json)")
        let sessions = m.smtp.rcptLog().count
        let again = m.post(#"{"to":"reject550-b@example.com","subject":"s","text":"t","sendNow":true,"idempotencyKey":"k-550"}"#)
        #expect(again.status == 409)
        #expect(again.json["error"]?["details"]?["state"] == "dead")
        #expect(m.smtp.rcptLog().count == sessions, "no second SMTP transaction")
    }

    /// While the first request with a key is still talking to the server, a second one is told
    /// where to follow it instead of sending too.
    @Test func aSecondSendNowWithTheKeyWhileTheFirstRunsIsAccepted() throws {
        let m = try MailHarness(timeoutSeconds: 10)
        let body = #"{"to":"hang-a@example.com","subject":"s","text":"t","sendNow":true,"idempotencyKey":"k-busy"}"#
        let firstDone = DispatchSemaphore(value: 0)
        let first = Box<Answer>()
        // The first request runs on its own thread with the harness's own context.
        nonisolated(unsafe) let harness = m
        Thread.detachNewThread {
            first.value = harness.post(body)
            firstDone.signal()
        }
        // Wait until the first one holds the key (its job is running), however loaded the machine.
        let deadline = Date().addingTimeInterval(30)
        while try m.h.db.query("SELECT 1 FROM conveyor_jobs WHERE org_id = \(m.h.orgId) AND idempotency_key = 'k-busy' AND state = 'running'").isEmpty {
            try #require(Date() < deadline, "the first request never started its send")
            Thread.sleep(forTimeInterval: 0.02)
        }
        // A context of its own: a worker serves one request at a time.
        let other = FunctionContext(configuration: m.context.configuration, manifest: m.context.manifest, logger: m.context.logger)
        let request = HTTPRequest(method: "POST", path: "/v1/email", headers: ["content-type": "application/json", "x-api-key": m.h.key], body: Data(body.utf8))
        let accepted = Answer(response: m.router.handle(request, context: other))
        #expect(accepted.status == 202, "\(accepted.json)")
        #expect(accepted.json["duplicate"] == .bool(true))
        let id = try #require(accepted.json["jobId"]?.intValue)
        #expect(accepted.response.header("Location") == "/v1/jobs/\(id)")
        #expect(firstDone.wait(timeout: .now() + 60) == .success)
        #expect(first.value?.status == 503, "the hung server timed the first one out")
        #expect(try m.h.jobCount() == 0, "the timed-out send freed its key")
    }

    @Test func a451ThenA250DeliversOnTheRetry() throws {
        let m = try MailHarness()
        let id = try m.enqueueJob(#"{"to":"defer451once-a@example.com","subject":"s","text":"t"}"#)
        #expect(m.process().json["retried"] == .int(1))
        let retried = m.h.status(id).json
        #expect(retried["state"] == .string("scheduled"))
        #expect(retried["errors"]?.mailArray?.first?["message"]?.stringValue?.contains("451 4.3.0 try later") == true, "\(retried)")
        #expect(m.smtp.storedMessages().isEmpty)
        try m.makeDue(id)
        #expect(m.process().json["completed"] == .int(1))
        #expect(m.h.status(id).json["attempt"] == .int(2))
        #expect(m.smtp.storedMessages() == [1])
        #expect(m.smtp.rcptLog() == ["defer451once-a@example.com", "defer451once-a@example.com"])
    }

    @Test func a550DeadLettersAtOnceWithTheReply() throws {
        let m = try MailHarness()
        let id = try m.enqueueJob(#"{"to":"reject550-a@example.com","subject":"s","text":"t"}"#)
        #expect(m.process().json["dead"] == .int(1))
        let status = m.h.status(id).json
        #expect(status["state"] == .string("dead"))
        #expect(status["attempt"] == .int(1), "5 attempts allowed, yet a permanent refusal stops at the first")
        #expect(status["errors"]?.mailArray?.first?["message"]?.stringValue?.contains("550 5.1.1 no such user") == true, "\(status)")
    }

    @Test func a550AtDataDeadLettersToo() throws {
        let m = try MailHarness()
        let id = try m.enqueueJob(#"{"to":"data550-a@example.com","subject":"s","text":"t"}"#)
        #expect(m.process().json["dead"] == .int(1))
        #expect(m.h.status(id).json["errors"]?.mailArray?.first?["message"]?.stringValue?.contains("550 5.7.1 message refused") == true)
    }

    @Test func aServerThatIsDownRetriesThenDies() throws {
        let refusing = try RefusingPort()
        let m = try MailHarness(port: refusing.port)
        let id = try m.enqueueJob(#"{"to":"a@example.com","subject":"s","text":"t"}"#, maxAttempts: 2)
        #expect(m.process().json["retried"] == .int(1))
        try m.makeDue(id)
        #expect(m.process().json["dead"] == .int(1))
        let errors = m.h.status(id).json["errors"]?.mailArray ?? []
        #expect(errors.count == 2)
        #expect(errors.allSatisfy { $0["message"]?.stringValue?.contains("cannot reach the SMTP server") == true }, "\(errors)")
    }

    @Test func aHangingServerTimesOutAndRetries() throws {
        let m = try MailHarness(timeoutSeconds: 2)
        let id = try m.enqueueJob(#"{"to":"hang-a@example.com","subject":"s","text":"t"}"#)
        #expect(m.process().json["retried"] == .int(1))
        #expect(m.h.status(id).json["errors"]?.mailArray?.first?["message"]?.stringValue?.contains("did not answer in time") == true)
        let now = m.post(#"{"to":"hang-b@example.com","subject":"s","text":"t","sendNow":true}"#)
        #expect(now.status == 503)
        #expect(now.json["error"]?["details"]?["retryable"] == .bool(true))
    }

    /// As a job, the SMTP session ends at the attempt's deadline, not at SMTP_TIMEOUT_SECONDS:
    /// a hanging server costs the attempt its 1.5 s, not the 20 s the settings allow.
    @Test func aHangingServerIsCutAtTheAttemptsDeadline() throws {
        let m = try MailHarness(timeoutSeconds: 20)
        let answer = m.call("/v1/jobs", body: #"{"kind":"send-email","queue":"\#(m.h.queue)","timeoutSeconds":1.5,"payload":{"to":"hang-c@example.com","subject":"s","text":"t"}}"#,
                            key: m.h.key)
        let id = try #require(answer.id, "\(answer.json)")
        let batch = m.process().json
        #expect(batch["retried"] == .int(1) && batch["timedOut"] == .int(1), "\(batch)")
        let ms = try #require(batch["durationMs"]?.intValue)
        #expect(ms < 5_000, "the attempt ended at its deadline; the batch took \(ms) ms")
        #expect(m.h.status(id).json["state"] == .string("scheduled"))
    }

    @Test func sendNowRefusalsMapToStatuses() throws {
        let m = try MailHarness()
        let permanent = m.post(#"{"to":"reject550-a@example.com","subject":"s","text":"t","sendNow":true}"#)
        #expect(permanent.status == 422)
        #expect(permanent.json["error"]?["details"]?["smtpCode"] == .int(550))
        #expect(permanent.json["error"]?["message"]?.stringValue?.contains("5.1.1 no such user") == true)
        let temporary = m.post(#"{"to":"defer451-a@example.com","subject":"s","text":"t","sendNow":true}"#)
        #expect(temporary.status == 503)
        #expect(temporary.json["error"]?["details"]?["smtpCode"] == .int(451))
    }

    static let injectionAttempts: [(String, String)] = [
        (#""to":"a@example.com\r\nBcc: victim@evil.test","subject":"s","text":"t""#, "to"),
        (#""to":[{"email":"a@example.com","name":"A\nBcc: victim@evil.test"}],"subject":"s","text":"t""#, "to[0].name"),
        (#""to":"a@example.com","cc":["c@example.com\u0000"],"subject":"s","text":"t""#, "cc[0]"),
        (#""to":"a@example.com","replyTo":"r@example.com\rX-Evil: 1","subject":"s","text":"t""#, "replyTo"),
        (#""to":"a@example.com","subject":"hi\r\nBcc: victim@evil.test","text":"t""#, "subject"),
        (#""to":"a@example.com","subject":"s","text":"t","headers":{"X-Tag":"v\r\nBcc: victim@evil.test"}"#, "headers.X-Tag"),
        (#""to":"a@example.com","subject":"s","text":"t","headers":{"Bcc":"victim@evil.test"}"#, "headers.Bcc"),
        (#""to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a\r\nBcc: v@evil.test","contentType":"text/plain","contentBase64":""}]"#, "attachments[0].filename"),
    ]

    @Test func headerInjectionIs422NamingTheFieldAndSendsNothing() throws {
        let m = try MailHarness()
        for (fields, field) in Self.injectionAttempts {
            for sendNow in [false, true] {
                let answer = m.post("{\(fields),\"sendNow\":\(sendNow)}")
                #expect(answer.status == 422, "\(fields)")
                #expect(answer.json["error"]?["details"]?["field"] == .string(field), "\(answer.json)")
            }
        }
        #expect(try m.h.jobCount() == 0)
        #expect(m.smtp.storedMessages().isEmpty)
        #expect(m.smtp.rcptLog().isEmpty, "no SMTP transaction was even started")
    }

    @Test func missingSettingsAre503NamingTheVariable() throws {
        let m = try MailHarness(environment: ["SMTP_URL": ""])
        let answer = m.post(#"{"to":"a@example.com","subject":"s","text":"t"}"#)
        #expect(answer.status == 503)
        #expect(answer.json["error"]?["message"] == .string("send-email is not configured: SMTP_URL is not set"))
    }

    @Test func anIdempotencyKeyEnqueuesOnce() throws {
        let m = try MailHarness()
        let body = #"{"to":"a@example.com","subject":"s","text":"t","idempotencyKey":"welcome-\#(m.h.queue)"}"#
        let first = m.post(body), second = m.post(body)
        #expect(first.status == 202 && second.status == 202)
        #expect(first.json["jobId"] == second.json["jobId"])
        #expect(second.json["duplicate"] == .bool(true))
        #expect(try m.h.jobCount() == 1)
    }

    @Test func tenMiBOfAttachmentsFitTheBodyLimitAndArriveWhole() throws {
        let m = try MailHarness()
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<(10 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let body = #"{"to":"a@example.com","subject":"big","text":"t","html":"\#(String(repeating: "<p>x</p>", count: 40_000))","attachments":[{"filename":"big.bin","contentType":"application/octet-stream","contentBase64":"\#(Data(bytes).base64EncodedString())"}]}"#
        let limit = try #require(m.router.manifest.entry("send-email")?.bodyLimitBytes)
        #expect(body.utf8.count <= limit)
        let answer = m.post(body)
        #expect(answer.status == 202, "\(answer.json)")
        let id = try #require(answer.json["jobId"]?.intValue)
        try m.h.db.execute("UPDATE conveyor_jobs SET queue = \(m.h.queue) WHERE id = \(id)")
        #expect(m.process(maxSeconds: 60).json["completed"] == .int(1))
        let raw = try m.smtp.raw(1)
        let encoded = Data(bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        #expect(raw.contains("\r\n\r\n" + encoded + "\r\n--"), "the attachment's base64 arrives whole")
        #expect(raw.split(separator: "\r\n").allSatisfy { $0.utf8.count <= 998 })
    }
}

/// A context whose SMTP settings point at this test's own server, around the shared Harness's
/// org and queue.
final class MailHarness {
    let h: Harness
    let smtp: ScriptedMailServer
    let router: Router
    let context: FunctionContext

    init(port: Int? = nil, timeoutSeconds: Double = 20, environment extra: [String: String] = [:]) throws {
        h = try Harness()
        smtp = try ScriptedMailServer()
        var environment = Harness.environment()
        environment["SMTP_URL"] = "smtp://127.0.0.1:\(port ?? smtp.port)?tls=none"
        environment["SMTP_FROM_EMAIL"] = "noreply@sender.example"
        environment["SMTP_FROM_NAME"] = "Conveyor Tests"
        environment["SMTP_CONNECT_TIMEOUT_SECONDS"] = "5"
        environment["SMTP_TIMEOUT_SECONDS"] = "\(timeoutSeconds)"
        environment.merge(extra) { _, new in new }
        let manifest = try Harness.manifest(pinning: ["send-email"], to: h.queue)
        router = try Router(manifest: manifest)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        context = FunctionContext(configuration: Configuration(environment: environment), manifest: manifest, logger: logger)
    }

    func call(_ path: String, body: String, key: String) -> Answer {
        let request = HTTPRequest(method: "POST", path: path, headers: ["content-type": "application/json", "x-api-key": key], body: Data(body.utf8))
        return Answer(response: router.handle(request, context: context))
    }

    /// POST /v1/email with the org's key.
    func post(_ body: String) -> Answer { call("/v1/email", body: body, key: h.key) }

    /// process-batch on this test's queue, with this test's SMTP settings.
    func process(maxSeconds: Double = 50) -> Answer {
        call("/v1/process-batch", body: #"{"queues":["\#(h.queue)"],"maxSeconds":\#(maxSeconds)}"#, key: Harness.processorKey)
    }

    /// A send-email job on this test's queue through the generic enqueue function.
    func enqueueJob(_ payload: String, maxAttempts: Int = 5) throws -> Int64 {
        let answer = call("/v1/jobs", body: #"{"kind":"send-email","queue":"\#(h.queue)","maxAttempts":\#(maxAttempts),"payload":\#(payload)}"#, key: h.key)
        return try #require(answer.id, "\(answer.json)")
    }

    /// Skips a retry's backoff.
    func makeDue(_ id: Int64) throws {
        try h.db.execute("UPDATE conveyor_jobs SET run_at = now() WHERE id = \(id)")
    }
}

/// Tests/Fixtures/smtp_scripted.py with its own maildir, stopped at the latest in deinit.
final class ScriptedMailServer {
    let maildir: URL
    private let server: FixtureServer
    var port: Int { server.port }

    init() throws {
        maildir = FileManager.default.temporaryDirectory.appendingPathComponent("send-email-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: maildir, withIntermediateDirectories: true)
        server = try FixtureServer(script: "smtp_scripted.py", arguments: ["--maildir", maildir.path])
    }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(at: maildir)
    }

    func storedMessages() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: maildir.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.contains("summary") }.compactMap { Int($0.dropLast(5)) }.sorted()
    }

    /// Message `number` as received, as text (its bytes are ASCII: the encoders see to that).
    func raw(_ number: Int) throws -> String {
        String(decoding: try Data(contentsOf: maildir.appendingPathComponent("\(number).eml")), as: UTF8.self)
    }

    func rcptLog() -> [String] {
        let text = (try? String(contentsOf: maildir.appendingPathComponent("rcpt.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }
}

extension JSONValue {
    /// The elements of an array, or nil.
    fileprivate var mailArray: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}
