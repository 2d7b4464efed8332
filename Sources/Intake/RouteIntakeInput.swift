import JobQueue

/// A route-intake body: an existing request to route, or a new one to store and route, now or
/// deferred as a job.
public struct RouteIntakeInput: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case existing(requestId: Int64)
        case new(NewIntakeRequest)
    }

    public var target: Target
    /// Store (if new) and enqueue a route-intake job in one transaction instead of routing now.
    public var deferred: Bool
    /// The job's queue when deferred; nil takes the kind's queue from the manifest.
    public var queue: String?

    public static let fields = ["requestId", "title", "description", "source", "priority", "requestData", "defer", "queue"]
    static let newRequestFields = ["title", "description", "source", "priority", "requestData"]

    public init(target: Target, deferred: Bool = false, queue: String? = nil) {
        self.target = target
        self.deferred = deferred
        self.queue = queue
    }

    /// Reads and validates a body, naming the field that fails.
    public init(json: JSONValue) throws {
        let o = try JSONFields(json, allowed: Self.fields)
        deferred = try o.bool("defer") ?? false
        queue = try o.string("queue")
        if queue != nil, !deferred {
            throw IntakeError.invalid("queue", "applies only with \"defer\": true")
        }
        if let queue, !JobRequest.isValidQueueName(queue) {
            throw IntakeError.invalid("queue", "must be 1 to 64 characters of a-z, 0-9, '_', '-' or '.', starting with a letter or digit")
        }
        if let id = try o.int64("requestId") {
            guard id > 0 else { throw IntakeError.invalid("requestId", "must be a positive request id") }
            if let extra = Self.newRequestFields.first(where: { o.value($0) != nil }) {
                throw IntakeError.invalid(extra, "give either requestId or a new request's fields, not both")
            }
            target = .existing(requestId: id)
        } else {
            target = .new(try NewIntakeRequest(title: o.string("title"), description: o.string("description"),
                                               source: o.string("source"), priority: o.int("priority"),
                                               requestData: o.value("requestData")))
        }
    }
}
