import Curl
import FoundationEssentials
import JobQueue

/// A job kind whose work is a POST to the user's own endpoint, signed as the Standard Webhooks
/// specification says.
///
/// Each attempt POSTs the payload as it was stored, with `webhook-id` (the job's, the same on
/// every retry), `webhook-timestamp`, `webhook-signature`, and the job's id, attempt, org, kind
/// and queue, its idempotency key and its `traceparent` when it has them. The answer decides the outcome (see `DeliveryOutcome`). Deliveries run on a
/// `TransferLoop`, so many wait at once on one thread and connections to a host are reused.
public struct HTTPTarget: JobTarget {
    /// An http:// or https:// URL.
    public let url: String
    public let signer: WebhookSigner
    /// Asked about every address a delivery would connect to (tenant targets); nil allows all.
    public let allowAddress: (@Sendable (IPAddress) -> Bool)?
    /// The longest result kept from a 2xx body; the rest is cut off and the result says so.
    public let maxResultBytes: Int
    /// Issues each delivery's `conveyor-progress-token`; nil sends none.
    public let progress: ProgressTokens?
    let loop: TransferLoop

    /// The default cap on a stored result.
    public static let defaultMaxResultBytes = 256 * 1024

    public init(url: String, signer: WebhookSigner, allowAddress: (@Sendable (IPAddress) -> Bool)? = nil,
                maxResultBytes: Int = HTTPTarget.defaultMaxResultBytes, progress: ProgressTokens? = nil, loop: TransferLoop = .shared) {
        self.url = url
        self.progress = progress
        self.signer = signer
        self.allowAddress = allowAddress
        self.maxResultBytes = maxResultBytes
        self.loop = loop
    }

    /// Starts the delivery from the caller's thread, with no task and no thread of its own:
    /// the loop's thread reports the outcome straight to the engine.
    public func start(_ attempt: RunningAttempt) {
        let request = self.request(for: attempt.context, now: Date())
        let ticket = TransferTicket()
        attempt.onCancel { ticket.cancel() }
        let maxResultBytes = self.maxResultBytes
        loop.start(request, ticket: ticket) { result in
            switch result {
            case .success(let response):
                attempt.finish(DeliveryOutcome.result(of: response, maxResultBytes: maxResultBytes).mapError { $0 },
                               answer: DeliveryOutcome.answer(status: response.status))
            case .failure(let error as CurlError):
                attempt.finish(.failure(DeliveryOutcome.failure(for: error)), answer: DeliveryOutcome.answer(for: error))
            case .failure(is TransferNotStarted):
                attempt.finish(.failure(AttemptNotStarted()))
            case .failure(let error):
                // Cancelled: at the deadline the engine counts it as the target's time-out.
                attempt.finish(.failure(error), answer: "cancelled")
            }
        }
    }

    public func run(_ context: JobContext) async throws -> String {
        let request = self.request(for: context, now: Date())
        let response: HTTPClientResponse
        do {
            response = try await loop.send(request)
        } catch let error as CurlError {
            throw DeliveryOutcome.failure(for: error)
        }
        return try DeliveryOutcome.result(of: response, maxResultBytes: maxResultBytes).get()
    }

    /// The signed request of one attempt. The curl timeout is the attempt's time left; the
    /// engine also cancels the transfer at the deadline.
    func request(for context: JobContext, now: Date) -> HTTPClientRequest {
        let job = context.job, timeout = context.remainingSeconds
        let body = Data(job.payload.text.utf8)
        let id = Self.webhookId(job)
        let timestamp = Int(now.timeIntervalSince1970)
        var headers: [(String, String)] = [
            ("Content-Type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", String(timestamp)),
            ("webhook-signature", signer.signature(id: id, timestamp: timestamp, body: body)),
            ("conveyor-job-id", String(job.id)),
            ("conveyor-attempt", String(job.attempt)),
            ("conveyor-max-attempts", String(job.maxAttempts)),
            ("conveyor-org", String(job.orgId)),
            ("conveyor-kind", job.kind),
            ("conveyor-queue", job.queue),
            ("conveyor-timeout-ms", String(Int(timeout * 1000))),
        ]
        // Both were checked at enqueue: no control characters, so they are safe header values.
        if let key = job.idempotencyKey { headers.append(("conveyor-idempotency-key", key)) }
        if let trace = job.traceparent { headers.append(("traceparent", trace)) }
        if let progress {
            headers.append(("conveyor-progress-token", progress.token(for: context, now: now)))
            headers.append(("conveyor-progress-path", "/v1/jobs/\(job.id)/progress"))
        }
        let seconds = max(timeout, 0.001)
        var request = HTTPClientRequest(method: "POST", url: url, headers: headers, body: body,
                                        connectTimeout: min(10, seconds), timeout: seconds, maxResponseBytes: maxResultBytes)
        request.truncatesBody = true
        request.allowAddress = allowAddress
        return request
    }

    /// `webhook-id`: the job's, so a receiver deduplicates retries of one job by it.
    static func webhookId(_ job: ClaimedJob) -> String { "job_\(job.id)" }
}
