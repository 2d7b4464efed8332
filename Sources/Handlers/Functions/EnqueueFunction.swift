import FoundationEssentials
import JobQueue

/// `enqueue`: adds one job, or `{"jobs": […]}` with up to 1,000 in one statement.
/// A new job answers 201; a repeated idempotency key answers 200 with the existing job.
///
/// Single-job requests that reach a worker together share one insert and one commit
/// (`handle(all:)`): the host's group commit. A valid `traceparent` header (W3C Trace Context)
/// is kept with every job of the request that names none of its own, and handed on to its
/// target; an invalid one is ignored, as the specification says.
struct EnqueueFunction: BatchingFunction {
    let name = "enqueue"
    static let maxBatch = 1000

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        try handle(body: try BodyDecoder.parse(invocation.request), org: try invocation.caller.requireOrg(),
                   trace: Self.trace(invocation), context: context)
    }

    /// The request's traceparent header, when it is a valid one.
    static func trace(_ invocation: Invocation) -> String? {
        invocation.request.header("traceparent").flatMap { JobRequest.isValidTraceparent($0) ? $0 : nil }
    }

    /// A job of the body, with the request's trace context unless it gives its own.
    static func job(_ json: JSONValue, field: String = "", trace: String?, kinds: JobKinds) throws -> NewJob {
        var request = try JobRequest(json: json, field: field)
        if request.traceparent == nil { request.traceparent = trace }
        return try request.validated(kinds: kinds, field: field)
    }

    func handle(body: JSONValue, org: Int64, trace: String?, context: FunctionContext) throws -> HTTPResponse {
        switch body["jobs"] {
        case nil:
            var jobs = [try Self.job(body, trace: trace, kinds: context.jobKinds)]
            try TargetFunctions.bind(&jobs, org: org, context: context, field: { _ in "kind" })
            return Self.response(try PostgresJobStore(connection: context.database()).enqueue(jobs, orgId: org)[0])
        case .array(let entries)?:
            return try enqueueBatch(entries, body: body, org: org, trace: trace, context: context)
        case _?:
            throw APIError(.invalidInput, "jobs: must be an array of jobs", details: ["field": "jobs"])
        }
    }

    /// Each single-job request is validated on its own (its error is its own answer); the valid
    /// ones go to the store together. Batch bodies and jobs with a uniqueness window, which take
    /// locks of their own, are answered one by one.
    func handle(all invocations: [Invocation], context: FunctionContext) -> [Result<HTTPResponse, any Error>] {
        var results = [Result<HTTPResponse, any Error>?](repeating: nil, count: invocations.count)
        var shared: [(index: Int, org: Int64, job: NewJob)] = []
        for (i, invocation) in invocations.enumerated() {
            do {
                let org = try invocation.caller.requireOrg()
                let body = try BodyDecoder.parse(invocation.request)
                let trace = Self.trace(invocation)
                guard body["jobs"] == nil else {
                    results[i] = Result { try handle(body: body, org: org, trace: trace, context: context) }
                    continue
                }
                var bound = [try Self.job(body, trace: trace, kinds: context.jobKinds)]
                try TargetFunctions.bind(&bound, org: org, context: context, field: { _ in "kind" })
                let job = bound[0]
                if job.uniqueForSeconds != nil {
                    results[i] = Result { Self.response(try PostgresJobStore(connection: context.database()).enqueue([job], orgId: org)[0]) }
                } else {
                    shared.append((i, org, job))
                }
            } catch {
                results[i] = .failure(error)
            }
        }
        if !shared.isEmpty {
            do {
                let store = PostgresJobStore(connection: try context.database())
                for (entry, outcome) in zip(shared, store.enqueueEach(shared.map(\.job), orgIds: shared.map(\.org))) {
                    results[entry.index] = outcome.map(Self.response)
                }
            } catch {
                for entry in shared { results[entry.index] = .failure(error) }
            }
        }
        return results.map { $0! }
    }

    /// A batch body or a uniqueness window is answered alone: a scan for the two keys (a payload
    /// that merely mentions them is answered alone too, which is only slower). Bodies over
    /// `maxSharedBody` are answered alone without a scan: single jobs that share are small, and a
    /// megabyte of bad input must not cost a scan on top of its parse.
    func mayShare(body: [UInt8]) -> Bool {
        body.count <= Self.maxSharedBody && !Self.contains(body, Self.jobsKey) && !Self.contains(body, Self.uniqueForKey)
    }

    static let maxSharedBody = 16 * 1024
    static let jobsKey = Array(#""jobs""#.utf8)
    static let uniqueForKey = Array(#""uniqueFor""#.utf8)

    static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard let first = needle.first, bytes.count >= needle.count else { return false }
        var i = 0
        while i <= bytes.count - needle.count {
            if bytes[i] == first {
                var j = 1
                while j < needle.count && bytes[i + j] == needle[j] { j += 1 }
                if j == needle.count { return true }
            }
            i += 1
        }
        return false
    }

    static func response(_ result: EnqueuedJob) -> HTTPResponse {
        var w = JSONWriter()
        result.write(to: &w)
        let r = HTTPResponse.json(result.duplicate ? 200 : 201, raw: w.data)
        return result.duplicate ? r : r.located("v1", "jobs", String(result.id))
    }

    func enqueueBatch(_ entries: [JSONValue], body: JSONValue, org: Int64, trace: String?, context: FunctionContext) throws -> HTTPResponse {
        guard body.objectValue?.count == 1 else {
            throw APIError(.invalidInput, "a batch body has only the field jobs; put each job's fields inside its entry", details: ["field": "jobs"])
        }
        guard (1...Self.maxBatch).contains(entries.count) else {
            throw APIError(.invalidInput, "jobs: must hold 1 to \(Self.maxBatch) jobs", details: ["field": "jobs"])
        }
        let kinds = context.jobKinds
        var jobs = try entries.enumerated().map { i, entry in
            try Self.job(entry, field: "jobs[\(i)]", trace: trace, kinds: kinds)
        }
        try TargetFunctions.bind(&jobs, org: org, context: context, field: { "jobs[\($0)].kind" })
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
    }
}
