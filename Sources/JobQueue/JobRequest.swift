import FoundationEssentials

/// One job as a client asks for it in an enqueue body, before validation.
public struct JobRequest: Sendable {
    public var kind: String?
    public var payload: JSONValue?
    public var queue: String?
    public var priority: Int?
    public var delaySeconds: Double?
    public var runAt: Date?
    public var maxAttempts: Int?
    public var idempotencyKey: String?
    /// Seconds during which another job of the same org, kind and payload is a duplicate.
    public var uniqueFor: Double?
    /// Groups jobs within the org's lane of a queue (one customer, one endpoint): groups share the
    /// lane round-robin, and the queue may limit each group's concurrency and rate.
    public var flowKey: String?
    /// A shorter limit for each attempt than the kind's own.
    public var timeoutSeconds: Double?
    /// The W3C trace context of the work that enqueued the job, handed on to its target.
    public var traceparent: String?

    /// The fields a job may have; anything else is a client's typo and is rejected.
    public static let fields = ["kind", "payload", "queue", "priority", "delaySeconds", "runAt", "maxAttempts", "idempotencyKey",
                                "uniqueFor", "flowKey", "timeoutSeconds", "traceparent"]

    public init(kind: String?, payload: JSONValue? = nil, queue: String? = nil, priority: Int? = nil,
                delaySeconds: Double? = nil, runAt: Date? = nil, maxAttempts: Int? = nil, idempotencyKey: String? = nil,
                uniqueFor: Double? = nil, flowKey: String? = nil, timeoutSeconds: Double? = nil, traceparent: String? = nil) {
        self.kind = kind
        self.payload = payload
        self.queue = queue
        self.priority = priority
        self.delaySeconds = delaySeconds
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.idempotencyKey = idempotencyKey
        self.uniqueFor = uniqueFor
        self.flowKey = flowKey
        self.timeoutSeconds = timeoutSeconds
        self.traceparent = traceparent
    }

    /// Reads a job from parsed JSON; type errors name the field under `prefix` (e.g. `jobs[3]`).
    public init(json: JSONValue, field prefix: String = "") throws {
        func path(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }
        guard case .object(let o) = json else {
            throw prefix.isEmpty ? JobQueueError(.invalidInput, "the body must be a JSON object") : JobQueueError.invalid(prefix, "must be a JSON object")
        }
        if let unknown = o.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw JobQueueError.invalid(path(unknown), "unknown field; expected one of \(Self.fields.joined(separator: ", "))")
        }
        func string(_ name: String) throws -> String? {
            switch o[name] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw JobQueueError.invalid(path(name), "must be a string")
            }
        }
        func wholeNumber(_ name: String) throws -> Int? {
            switch o[name] {
            case nil, .null?: return nil
            case .int(let i)?: return Int(clamping: i)
            default: throw JobQueueError.invalid(path(name), "must be a whole number")
            }
        }
        func seconds(_ name: String) throws -> Double? {
            switch o[name] {
            case nil, .null?: return nil
            case .int(let i)?: return Double(i)
            case .double(let d)?: return d
            // Out of a double's range: the range checks below refuse it.
            case .number(let t)?: return Double(t) ?? .infinity
            default: throw JobQueueError.invalid(path(name), "must be a number of seconds")
            }
        }
        kind = try string("kind")
        payload = o["payload"]
        queue = try string("queue")
        priority = try wholeNumber("priority")
        delaySeconds = try seconds("delaySeconds")
        if let text = try string("runAt") {
            guard let date = Timestamp.parse(text) else {
                throw JobQueueError.invalid(path("runAt"), "must be an RFC 3339 timestamp of a date and time that exist, such as 2026-01-31T09:30:00Z")
            }
            runAt = date
        } else {
            runAt = nil
        }
        maxAttempts = try wholeNumber("maxAttempts")
        idempotencyKey = try string("idempotencyKey")
        uniqueFor = try seconds("uniqueFor")
        flowKey = try string("flowKey")
        timeoutSeconds = try seconds("timeoutSeconds")
        traceparent = try string("traceparent")
    }
}

/// A validated job, ready to insert.
public struct NewJob: Sendable, Equatable {
    public var kind: String
    /// The payload as compact JSON text.
    public var payloadJSON: String
    public var queue: String
    public var priority: Int
    /// Seconds from the database's clock at insert; nil runs now.
    public var delaySeconds: Double?
    /// An absolute time to run at; wins over `delaySeconds` (only one may be given).
    public var runAt: Date?
    public var maxAttempts: Int
    public var idempotencyKey: String?
    /// When set, a job of the same org, kind and payload enqueued less than this many seconds
    /// earlier (with a window of its own still open) makes this one a duplicate.
    public var uniqueForSeconds: Double?
    /// True when neither the request nor the kind named maxAttempts: the queue's default then
    /// wins over `maxAttempts` (the engine default), read by the insert itself.
    public var maxAttemptsFromQueue: Bool
    /// The job's flow key; "" when it has none.
    public var flowKey: String
    /// The limit of each attempt, in milliseconds.
    public var timeoutMs: Int
    /// The W3C trace context the job was enqueued under, if any.
    public var traceparent: String?

    public init(kind: String, payloadJSON: String, queue: String, priority: Int = 0, delaySeconds: Double? = nil,
                runAt: Date? = nil, maxAttempts: Int, idempotencyKey: String? = nil, uniqueForSeconds: Double? = nil,
                maxAttemptsFromQueue: Bool = false, flowKey: String = "", timeoutMs: Int = JobKinds.defaultTimeoutMs,
                traceparent: String? = nil) {
        self.kind = kind
        self.payloadJSON = payloadJSON
        self.queue = queue
        self.priority = priority
        self.delaySeconds = delaySeconds
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.idempotencyKey = idempotencyKey
        self.uniqueForSeconds = uniqueForSeconds
        self.maxAttemptsFromQueue = maxAttemptsFromQueue
        self.flowKey = flowKey
        self.timeoutMs = timeoutMs
        self.traceparent = traceparent
    }
}

extension JobRequest {
    /// Largest payload, measured as compact JSON.
    public static let maxPayloadBytes = 256 * 1024
    /// Largest delay: a year. Anything longer is almost surely a unit mistake.
    public static let maxDelaySeconds = 366.0 * 24 * 3600
    /// Longest uniqueness window: 31 days.
    public static let maxUniqueForSeconds = 31.0 * 24 * 3600
    /// Longest flow key.
    public static let maxFlowKeyBytes = 255

    /// Validates the request against the known kinds; `field` prefixes error paths (e.g. `jobs[3]`).
    public func validated(kinds: JobKinds, field prefix: String = "") throws -> NewJob {
        func path(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }
        guard let kind, !kind.isEmpty else {
            throw JobQueueError.invalid(path("kind"), "is required", details: ["knownKinds": .array(kinds.names.map(JSONValue.string))])
        }
        guard let spec = kinds[kind] else {
            throw JobQueueError.invalid(path("kind"), "unknown kind '\(kind.prefix(100))'; known kinds: \(kinds.names.joined(separator: ", "))",
                                        details: ["knownKinds": .array(kinds.names.map(JSONValue.string))])
        }
        let payload = self.payload ?? .object([:])
        guard case .object = payload else {
            throw JobQueueError.invalid(path("payload"), "must be a JSON object")
        }
        // jsonb cannot store U+0000 (SQLSTATE 22P05): refuse it here, naming the field.
        guard !payload.containsNUL else {
            throw JobQueueError.invalid(path("payload"), "strings must not contain the NUL character (\\u0000)")
        }
        let payloadJSON = payload.jsonText
        guard payloadJSON.utf8.count <= Self.maxPayloadBytes else {
            throw JobQueueError.invalid(path("payload"), "is \(payloadJSON.utf8.count) bytes; the limit is \(Self.maxPayloadBytes) bytes",
                                        details: ["limitBytes": .int(Int64(Self.maxPayloadBytes))])
        }
        let queue = self.queue ?? spec.queue
        guard Self.isValidQueueName(queue) else {
            throw JobQueueError.invalid(path("queue"), "must be 1 to 64 characters of a-z, 0-9, '_', '-' or '.', starting with a letter or digit")
        }
        // A kind's queue carries its limits (the email queue's rate, say): only kinds the
        // manifest lets choose may run elsewhere.
        guard queue == spec.queue || spec.queueOverride else {
            throw JobQueueError.invalid(path("queue"), "\(kind) jobs run in queue '\(spec.queue)'; this kind does not let a job choose its queue",
                                        details: ["queue": .string(spec.queue)])
        }
        let priority = self.priority ?? 0
        guard (-100...100).contains(priority) else {
            throw JobQueueError.invalid(path("priority"), "must be between -100 and 100 (higher runs first)")
        }
        if delaySeconds != nil && runAt != nil {
            throw JobQueueError.invalid(path("runAt"), "give either delaySeconds or runAt, not both")
        }
        if let delaySeconds {
            guard delaySeconds.isFinite, delaySeconds >= 0 else {
                throw JobQueueError.invalid(path("delaySeconds"), "must be zero or more")
            }
            guard delaySeconds <= Self.maxDelaySeconds else {
                throw JobQueueError.invalid(path("delaySeconds"), "must be at most \(Int(Self.maxDelaySeconds)) (one year)")
            }
        }
        if let runAt, runAt.timeIntervalSinceNow > Self.maxDelaySeconds {
            throw JobQueueError.invalid(path("runAt"), "must be within one year")
        }
        // Precedence: the request, then the kind's own policy, then the queue's default (read at
        // insert), then the engine default.
        let fromQueue = self.maxAttempts == nil && !spec.declaresRetry
        let maxAttempts = self.maxAttempts ?? spec.retry.maxAttempts
        guard (1...100).contains(maxAttempts) else {
            throw JobQueueError.invalid(path("maxAttempts"), "must be between 1 and 100")
        }
        if let key = idempotencyKey {
            guard (1...255).contains(key.utf8.count), !key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw JobQueueError.invalid(path("idempotencyKey"), "must be 1 to 255 bytes with no control characters")
            }
        }
        if let uniqueFor {
            guard uniqueFor.isFinite, uniqueFor > 0, uniqueFor <= Self.maxUniqueForSeconds else {
                throw JobQueueError.invalid(path("uniqueFor"), "must be more than 0 and at most \(Int(Self.maxUniqueForSeconds)) seconds (31 days)")
            }
        }
        if let flowKey {
            guard (1...Self.maxFlowKeyBytes).contains(flowKey.utf8.count),
                  !flowKey.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw JobQueueError.invalid(path("flowKey"), "must be 1 to \(Self.maxFlowKeyBytes) bytes with no control characters")
            }
        }
        let cap = spec.timeoutSeconds
        var timeout = cap
        if let asked = timeoutSeconds {
            guard asked.isFinite, asked >= 0.001, asked <= cap else {
                throw JobQueueError.invalid(path("timeoutSeconds"), "must be more than 0 and at most \(JobKinds.format(cap)), the limit of \(kind) jobs",
                                            details: ["limitSeconds": JobKinds.json(cap)])
            }
            timeout = asked
        }
        if let traceparent, !Self.isValidTraceparent(traceparent) {
            throw JobQueueError.invalid(path("traceparent"), "must be a W3C traceparent: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, lowercase, ids not all zero")
        }
        return NewJob(kind: kind, payloadJSON: payloadJSON, queue: queue, priority: priority,
                      delaySeconds: delaySeconds, runAt: runAt, maxAttempts: maxAttempts, idempotencyKey: idempotencyKey,
                      uniqueForSeconds: uniqueFor, maxAttemptsFromQueue: fromQueue, flowKey: flowKey ?? "",
                      timeoutMs: JobKinds.milliseconds(timeout), traceparent: traceparent)
    }

    /// A W3C Trace Context `traceparent` of version 00: `00-` 32 hex digits `-` 16 hex digits
    /// `-` 2 hex digits, lowercase, with neither id all zeros.
    public static func isValidTraceparent(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 55, bytes[0] == 0x30, bytes[1] == 0x30, bytes[2] == 0x2D, bytes[35] == 0x2D, bytes[52] == 0x2D else { return false }
        func hex(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) } }
        guard hex(3..<35), hex(36..<52), hex(53..<55) else { return false }
        return bytes[3..<35].contains { $0 != 0x30 } && bytes[36..<52].contains { $0 != 0x30 }
    }

    /// Queue names are identifiers operators type and metrics label: keep them boring.
    public static func isValidQueueName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        for (i, b) in bytes.enumerated() {
            let alnum = (b >= 97 && b <= 122) || (b >= 48 && b <= 57)
            if i == 0 ? !alnum : !(alnum || b == 95 || b == 45 || b == 46) { return false }
        }
        return true
    }
}
