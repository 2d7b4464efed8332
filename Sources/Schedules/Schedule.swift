import Cron
import Foundation
import JobQueue

/// A schedule as stored: a cron expression in a time zone, the job each slot enqueues, and the
/// next slot not yet turned into a job.
public struct Schedule: Sendable, Equatable {
    public var orgId: Int64
    public var name: String
    public var cron: String
    public var timeZone: String
    /// The job's fields (kind, payload, queue, priority, maxAttempts, timeoutSeconds), as JSON.
    public var job: JSONValue
    public var jitterSeconds: Int
    public var paused: Bool
    /// When the next slot fires (without jitter); nil when the expression never fires again.
    public var nextAt: Date?
    public var lastFiredAt: Date?
    public var lastJobId: Int64?
    /// Slots that passed while no driver ran and were skipped.
    public var missed: Int64
    public var createdAt: Date
    public var updatedAt: Date
}

/// A schedule as a client asks for it, checked: `ScheduleSpec.init(json:kinds:)` refuses
/// anything the store must not keep, naming the field.
public struct ScheduleSpec: Sendable {
    public var cron: CronSchedule
    public var timeZone: TimeZone
    /// The zone's IANA name as the client gave it (Foundation may name UTC "GMT").
    public var timeZoneName: String
    public var job: JSONValue
    public var jitterSeconds: Int
    public var paused: Bool

    /// The fields of a schedule's job: the enqueue function's, less those that place one job in
    /// time or make it unique (each slot does that).
    public static let jobFields = ["kind", "payload", "queue", "priority", "maxAttempts", "timeoutSeconds", "flowKey"]
    public static let fields = ["cron", "timeZone", "job", "jitterSeconds", "paused"]
    /// The longest jitter: an hour.
    public static let maxJitterSeconds = 3600

    public init(json: JSONValue, kinds: JobKinds) throws {
        guard case .object(let o) = json else { throw JobQueueError(.invalidInput, "the body must be a JSON object") }
        if let unknown = o.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw Self.invalid(unknown, "unknown field; expected one of \(Self.fields.joined(separator: ", "))")
        }
        guard case .string(let text)? = o["cron"] else { throw Self.invalid("cron", "is required: a cron expression such as \"0 9 * * 1-5\"") }
        do {
            cron = try CronSchedule(parsing: text)
        } catch {
            throw Self.invalid("cron", "\(error)")
        }
        switch o["timeZone"] {
        case nil, .null?:
            timeZone = TimeZone(identifier: "UTC")!
            timeZoneName = "UTC"
        case .string(let name)?:
            // IANA names only (Europe/Berlin, America/New_York, UTC): abbreviations such as EST
            // mean different things in different places.
            guard name.count <= 64, name == "UTC" || name.contains("/"), let zone = TimeZone(identifier: name) else {
                throw Self.invalid("timeZone", "unknown time zone '\(name.prefix(64))'; use an IANA name such as Europe/Berlin or UTC")
            }
            timeZone = zone
            timeZoneName = name
        case _?:
            throw Self.invalid("timeZone", "must be a string")
        }
        guard ScheduleClock(cron: cron, timeZone: timeZone).next(after: Date()) != nil else {
            throw Self.invalid("cron", "'\(text)' never fires")
        }
        guard case .object(let template)? = o["job"] else { throw Self.invalid("job", "is required: the job each slot enqueues, {\"kind\": …}") }
        if let unknown = template.keys.sorted().first(where: { !Self.jobFields.contains($0) }) {
            throw Self.invalid("job.\(unknown)", "not allowed in a schedule's job; expected one of \(Self.jobFields.joined(separator: ", "))")
        }
        // Checked as the enqueue function checks a job, so a slot never fails on its fields.
        _ = try JobRequest(json: .object(template), field: "job").validated(kinds: kinds, field: "job")
        job = .object(template)
        switch o["jitterSeconds"] {
        case nil, .null?: jitterSeconds = 0
        case .int(let n)? where (0...Int64(Self.maxJitterSeconds)).contains(n): jitterSeconds = Int(n)
        case _?: throw Self.invalid("jitterSeconds", "must be a whole number of seconds from 0 to \(Self.maxJitterSeconds)")
        }
        switch o["paused"] {
        case nil, .null?: paused = false
        case .bool(let b)?: paused = b
        case _?: throw Self.invalid("paused", "must be true or false")
        }
    }

    static func invalid(_ field: String, _ message: String) -> JobQueueError {
        JobQueueError(.invalidInput, "\(field): \(message)", field: field)
    }

    public var clock: ScheduleClock { ScheduleClock(cron: cron, timeZone: timeZone) }
}
