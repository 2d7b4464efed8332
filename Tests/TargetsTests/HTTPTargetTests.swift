import Curl
import Foundation
import JobQueue
import Postgres
import Targets
import TestSupport
import Testing

/// Deliveries to a real endpoint on loopback, each verified there by the reference Standard
/// Webhooks package.
@Suite struct HTTPTargetTests {
    static func job(id: Int64 = Int64.random(in: 1...1_000_000_000), attempt: Int = 1, payload: String = #"{"url":"https://img.example/a.png","n":1}"#) -> ClaimedJob {
        ClaimedJob(id: id, orgId: 42, queue: "images", kind: "resize-image", priority: 0, runAt: Date(),
                   attempt: attempt, maxAttempts: 5, payload: PostgresJSON(text: payload))
    }

    static func deliver(_ target: HTTPTarget, _ job: ClaimedJob, seconds: Double = 10) async -> Result<String, any Error> {
        do {
            return .success(try await target.run(JobContext.standalone(job, seconds: seconds)))
        } catch {
            return .failure(error)
        }
    }

    @Test func aDeliveryIsSignedAndCarriesTheJob() async throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let target = HTTPTarget(url: receiver.base + "/ok", signer: try WebhookSigner(parsing: secret))
        let job = Self.job()
        let result = try await Self.deliver(target, job).get()
        #expect(try JSONValue.parse(result) == JSONValue.parse(#"{"received":{"url":"https://img.example/a.png","n":1}}"#))

        let delivery = try #require(try receiver.deliveries().first)
        #expect(delivery.verified == [true], "standardwebhooks verified the signature")
        #expect(delivery.body == job.payload.text, "the payload goes out exactly as stored")
        #expect(delivery.headers["webhook-id"] == "job_\(job.id)")
        #expect(delivery.headers["conveyor-job-id"] == String(job.id))
        #expect(delivery.headers["conveyor-attempt"] == "1")
        #expect(delivery.headers["conveyor-org"] == "42")
        #expect(delivery.headers["conveyor-kind"] == "resize-image")
        #expect(delivery.headers["content-type"] == "application/json")
        let timestamp = try #require(Int(delivery.headers["webhook-timestamp"] ?? ""))
        #expect(abs(Double(timestamp) - delivery.at) < 5, "signed when sent")
    }

    @Test func theWebhookIdIsTheSameOnEveryAttempt() async throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let target = HTTPTarget(url: receiver.base + "/fail-first/1", signer: try WebhookSigner(parsing: secret))
        let first = Self.job(attempt: 1)
        var second = first
        second.attempt = 2
        let failure = try #require(await Self.deliver(target, first).failure as? JobFailure)
        #expect(failure.retryable)
        #expect(failure.message.contains("503"))
        _ = try await Self.deliver(target, second).get()
        let deliveries = try receiver.deliveries()
        #expect(deliveries.count == 2)
        #expect(Set(deliveries.map { $0.headers["webhook-id"] }) == ["job_\(first.id)"])
        #expect(deliveries.map { $0.headers["conveyor-attempt"] } == ["1", "2"])
        #expect(deliveries.allSatisfy { $0.verified == [true] })
    }

    /// During a rotation the header carries a signature per secret: a receiver that still has
    /// only the old secret and one that has only the new both accept.
    @Test func aRotationVerifiesWithEitherSecret() async throws {
        let new = WebhookSecret.generate(), old = WebhookSecret.generate(), stranger = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [new, old, stranger])
        let target = HTTPTarget(url: receiver.base + "/ok", signer: try WebhookSigner(parsing: "\(new) \(old)"))
        _ = try await Self.deliver(target, Self.job()).get()
        let delivery = try #require(try receiver.deliveries().first)
        #expect(delivery.verified == [true, true, false])
        #expect(delivery.headers["webhook-signature"]?.split(separator: " ").count == 2)
    }

    @Test func answersBecomeOutcomes() async throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let signer = try WebhookSigner(parsing: secret)
        func run(_ path: String, seconds: Double = 10, maxResultBytes: Int = HTTPTarget.defaultMaxResultBytes) async -> Result<String, any Error> {
            await Self.deliver(HTTPTarget(url: receiver.base + path, signer: signer, maxResultBytes: maxResultBytes), Self.job(), seconds: seconds)
        }
        #expect(try await run("/text").get() == #""plain words""#)
        #expect(try await run("/empty").get() == "null")

        let gone = try #require(await run("/status/410").failure as? JobFailure)
        #expect(!gone.retryable)
        #expect(gone.message.contains("410: status 410 body"))

        let limited = try #require(await run("/retry-after/30").failure as? JobFailure)
        #expect(limited.retryable && limited.retryAfterSeconds == 30)

        let redirect = try #require(await run("/redirect").failure as? JobFailure)
        #expect(!redirect.retryable && redirect.message.contains("redirects are not followed"))

        let hang = try #require(await run("/hang", seconds: 0.5).failure as? JobFailure)
        #expect(hang.retryable && hang.message.contains("in time"), "\(hang)")

        let cut = try #require(await run("/close").failure as? JobFailure)
        #expect(cut.retryable && cut.message.contains("broke"), "\(cut)")

        let big = try JSONValue.parse(try await run("/big/10485760", maxResultBytes: 262_144).get())
        #expect(big["truncated"] == .bool(true))
        #expect(big["body"]?.stringValue?.utf8.count == 262_144)
        #expect(big["limitBytes"] == .int(262_144))

        #expect(try receiver.deliveries().allSatisfy { $0.verified == [true] })
    }

    /// A certificate that does not verify is a failed delivery (retried: certificates get
    /// fixed), never a delivery without verification.
    @Test func aBadCertificateIsNotTrusted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("target-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path, key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1", "-keyout", key, "-out", cert]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        let server = try FixtureServer(script: "http_echo.py", arguments: ["--tls-cert", cert, "--tls-key", key])
        let target = HTTPTarget(url: "https://127.0.0.1:\(server.port)/jobs", signer: try WebhookSigner(parsing: WebhookSecret.generate()))
        let failure = try #require(await Self.deliver(target, Self.job()).failure as? JobFailure)
        #expect(failure.retryable)
        #expect(failure.message.contains("TLS"), "\(failure)")
    }

    @Test func aClosedPortIsRetried() async throws {
        let target = HTTPTarget(url: "http://127.0.0.1:1/jobs", signer: try WebhookSigner(parsing: WebhookSecret.generate()))
        let failure = try #require(await Self.deliver(target, Self.job()).failure as? JobFailure)
        #expect(failure.retryable)
        #expect(failure.message.contains("refused"), "\(failure)")
    }

    @Test func anUnresolvableHostIsRetried() async throws {
        let target = HTTPTarget(url: "http://no-such-host.invalid/jobs", signer: try WebhookSigner(parsing: WebhookSecret.generate()))
        let failure = try #require(await Self.deliver(target, Self.job()).failure as? JobFailure)
        #expect(failure.retryable)
        #expect(failure.message.contains("resolve"), "\(failure)")
    }

    /// A task cancelled at the deadline stops the transfer at once.
    @Test func cancellingTheAttemptStopsTheDelivery() async throws {
        let secret = WebhookSecret.generate()
        let receiver = try WebhookReceiver(secrets: [secret])
        let target = HTTPTarget(url: receiver.base + "/hang", signer: try WebhookSigner(parsing: secret))
        let job = Self.job()
        let task = Task { try await target.run(JobContext.standalone(job, seconds: 600)) }
        let arrived = Date().addingTimeInterval(90)
        while try receiver.deliveries().isEmpty, Date() < arrived { try await Task.sleep(for: .milliseconds(20)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
