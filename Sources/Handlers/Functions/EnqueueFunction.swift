import FoundationEssentials
import JobQueue

/// `enqueue`: adds one job, or `{"jobs": […]}` with up to 1,000 in one statement.
/// A new job answers 201; a repeated idempotency key answers 200 with the existing job.
struct EnqueueFunction: ConveyorFunction {
    let name = "enqueue"
    static let maxBatch = 1000

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let kinds = context.jobKinds
        let body = try BodyDecoder.parse(invocation.request)
        switch body["jobs"] {
        case nil:
            let job = try JobRequest(json: body).validated(kinds: kinds)
            let result = try PostgresJobStore(connection: context.database()).enqueue([job], orgId: org)[0]
            var w = JSONWriter()
            result.write(to: &w)
            return .json(result.duplicate ? 200 : 201, raw: w.data)
        case .array(let entries)?:
            guard body.objectValue?.count == 1 else {
                throw APIError(.invalidInput, "a batch body has only the field jobs; put each job's fields inside its entry", details: ["field": "jobs"])
            }
            guard (1...Self.maxBatch).contains(entries.count) else {
                throw APIError(.invalidInput, "jobs: must hold 1 to \(Self.maxBatch) jobs", details: ["field": "jobs"])
            }
            let jobs = try entries.enumerated().map { i, entry in
                try JobRequest(json: entry, field: "jobs[\(i)]").validated(kinds: kinds, field: "jobs[\(i)]")
            }
            let results = try PostgresJobStore(connection: context.database()).enqueue(jobs, orgId: org)
            let duplicates = results.filter(\.duplicate).count
            var w = JSONWriter(capacity: 64 + results.count * 160)
            w.beginObject()
            w.field("inserted", results.count - duplicates)
            w.field("duplicates", duplicates)
            w.beginArray("jobs")
            for r in results { r.write(to: &w) }
            w.endArray()
            w.endObject()
            return .json(duplicates == results.count ? 200 : 201, raw: w.data)
        case _?:
            throw APIError(.invalidInput, "jobs: must be an array of jobs", details: ["field": "jobs"])
        }
    }
}
