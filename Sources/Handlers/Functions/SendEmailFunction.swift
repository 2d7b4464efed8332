import FoundationEssentials
import JobQueue
import Mail

/// `send-email`: validates a message and, by default, enqueues it on its job kind's queue
/// ("email") answering 202 `{jobId, messageId}`; with `"sendNow": true` it delivers within the
/// request and answers 200 `{messageId, accepted, rejected}`. Run as a job by process-batch it
/// delivers, and an SMTP 4xx, a connection failure or a timeout retries while a 5xx
/// dead-letters at once with the server's reply.
///
/// The Message-ID is fixed when the job is enqueued (stored in the payload), so every retry
/// sends the same id and receivers can recognise a duplicate.
struct SendEmailFunction: ConveyorFunction {
    let name = "send-email"
    /// Idle SMTP clients of this process, reused from message to message. The registry builds
    /// one function value per process, and each fcgi-host worker is a process, so this is the
    /// worker's own pool; the transport is thread-safe for hosts that run threads.
    let transport: SMTPTransport

    /// The largest `metadata` object, as JSON text: it is stored with the job, not sent.
    static let maxMetadataBytes = 16 * 1024

    init(transport: SMTPTransport = SMTPTransport()) {
        self.transport = transport
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        guard case .object(var fields) = try BodyDecoder.parse(invocation.request) else {
            throw APIError(.invalidInput, "the body must be a JSON object")
        }
        let sendNow = try Self.sendNow(fields.removeValue(forKey: "sendNow"))
        let idempotencyKey = try Self.idempotencyKey(fields.removeValue(forKey: "idempotencyKey"))
        try Self.checkMetadata(fields["metadata"])
        let request = try BodyDecoder.decode(EmailRequest.self, from: invocation.request)

        var settings: MailSettings
        let message: EmailMessage
        do {
            settings = try MailSettings(environment: context.configuration.environment)
            message = try request.message(from: settings.sender, date: context.now())
        } catch {
            if invocation.job != nil { throw JobFailure(mail: error) }
            throw APIError(mail: error)
        }

        if let job = invocation.job {
            // The SMTP session ends by the attempt's deadline: a server that runs it out has
            // timed the attempt out.
            let left = max(job.remainingSeconds, 0.05)
            settings.server.timeout = min(settings.server.timeout, left)
            settings.server.connectTimeout = min(settings.server.connectTimeout, left)
        }
        if sendNow, invocation.job == nil, let idempotencyKey {
            return try sendOnce(message, fields: fields, settings: settings, key: idempotencyKey, org: org, context: context)
        }
        if invocation.job != nil || sendNow {
            let delivery: EmailDelivery
            do {
                delivery = try transport.send(message, settings: settings)
            } catch {
                if invocation.job != nil { throw JobFailure(mail: error) }
                throw APIError(mail: error)
            }
            return try .json(200, delivery)
        }
        guard let spec = context.jobKinds[name] else {
            throw APIError(.unavailable, "send-email has no job policy in functions.json")
        }
        fields["messageId"] = .string(message.messageID.value)
        let job = NewJob(kind: name, payloadJSON: JSONValue.object(fields).jsonText, queue: spec.queue,
                         maxAttempts: spec.retry.maxAttempts, idempotencyKey: idempotencyKey)
        let enqueued = try PostgresJobStore(connection: context.database()).enqueue([job], orgId: org)[0]
        return try .json(202, Accepted(jobId: enqueued.id, messageId: enqueued.duplicate ? nil : message.messageID.value,
                                       duplicate: enqueued.duplicate ? true : nil))
            .located("v1", "jobs", String(enqueued.id))
    }

    /// `sendNow` with an idempotencyKey: the send is stored as a running job of this request
    /// first, so a second request with the key answers the first one's outcome instead of
    /// sending again. A temporary failure frees the key (nothing was sent); a permanent refusal
    /// is kept as a dead job. If this process dies mid-send, the lease runs out and process-batch
    /// sends the job, with the same Message-ID.
    func sendOnce(_ message: EmailMessage, fields: [String: JSONValue], settings: MailSettings, key: String, org: Int64,
                  context: FunctionContext) throws -> HTTPResponse {
        guard let spec = context.jobKinds[name] else {
            throw APIError(.unavailable, "send-email has no job policy in functions.json")
        }
        var payload = fields
        payload["messageId"] = .string(message.messageID.value)
        let job = NewJob(kind: name, payloadJSON: JSONValue.object(payload).jsonText, queue: spec.queue,
                         maxAttempts: spec.retry.maxAttempts, idempotencyKey: key)
        let store = PostgresJobStore(connection: try context.database())
        let owner = UUID()
        let lease = settings.server.connectTimeout + settings.server.timeout + 30
        let id: Int64
        switch try store.startNow(job, orgId: org, owner: owner, leaseSeconds: lease) {
        case .existing(let first): return try Self.answer(duplicate: first)
        case .started(let started): id = started
        }
        let clock = ContinuousClock.now
        let delivery: EmailDelivery
        do {
            delivery = try transport.send(message, settings: settings)
        } catch {
            if error.isRetryable {
                _ = try? store.abandonStarted(id: id, owner: owner)
            } else {
                _ = try? store.record([JobOutcome(jobId: id, attempt: 1, durationMs: Self.ms(since: clock), result: .dead(error: error.message))], owner: owner)
            }
            throw APIError(mail: error)
        }
        let result = String(decoding: try JSONEncoder.conveyor.encode(delivery), as: UTF8.self)
        _ = try store.record([JobOutcome(jobId: id, attempt: 1, durationMs: Self.ms(since: clock), result: .completed(resultJSON: result))], owner: owner)
        return try .json(200, delivery)
    }

    static func ms(since start: ContinuousClock.Instant) -> Int {
        let d = ContinuousClock.now - start
        return Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    /// What a repeated key answers: the first send's delivery (200), a send still under way or
    /// queued (202, follow Location), or how it ended otherwise (409).
    static func answer(duplicate first: Job) throws -> HTTPResponse {
        switch first.state {
        case .completed:
            var body = first.result?.objectValue ?? [:]
            body["duplicate"] = .bool(true)
            return .json(200, raw: Data(JSONValue.object(body).jsonText.utf8))
        case .dead, .cancelled:
            let why = first.errors.last.map { ": \($0.message)" } ?? ""
            throw APIError(.conflict, "the send with this idempotencyKey ended \(first.state.rawValue)\(why)",
                           details: ["jobId": .int(first.id), "state": .string(first.state.rawValue)])
        default:
            return try .json(202, Accepted(jobId: first.id, messageId: nil, duplicate: true)).located("v1", "jobs", String(first.id))
        }
    }

    /// The 202 answer. A duplicate idempotency key answers with the first job; its Message-ID
    /// is the one in that job's payload, not this request's.
    struct Accepted: Encodable {
        var jobId: Int64
        var messageId: String?
        var duplicate: Bool?
    }

    static func sendNow(_ value: JSONValue?) throws -> Bool {
        switch value {
        case nil, .null?: return false
        case .bool(let b)?: return b
        default: throw APIError(.invalidInput, "sendNow: must be true or false", details: ["field": "sendNow"])
        }
    }

    static func idempotencyKey(_ value: JSONValue?) throws -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let key)? where (1...255).contains(key.utf8.count) && !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }):
            return key
        default:
            throw APIError(.invalidInput, "idempotencyKey: must be 1 to 255 bytes with no control characters", details: ["field": "idempotencyKey"])
        }
    }

    static func checkMetadata(_ value: JSONValue?) throws {
        switch value {
        case nil, .null?: return
        case .object?:
            guard !value!.containsNUL else {
                throw APIError(.invalidInput, "metadata: strings must not contain the NUL character (\\u0000)", details: ["field": "metadata"])
            }
            guard value!.jsonText.utf8.count <= maxMetadataBytes else {
                throw APIError(.invalidInput, "metadata: must be at most \(maxMetadataBytes) bytes as JSON", details: ["field": "metadata"])
            }
        default:
            throw APIError(.invalidInput, "metadata: must be a JSON object", details: ["field": "metadata"])
        }
    }
}
