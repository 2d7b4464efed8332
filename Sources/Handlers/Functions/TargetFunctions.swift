import FoundationEssentials
import JobQueue
import Targets

/// A tenant's own HTTP targets: `PUT /v1/targets/{name}` registers one (its signing secret is
/// shown once, in the 201), the org enqueues `{"kind": "target:NAME"}`, and process-batch
/// delivers there, signed, to an address the operator's policy allows.
enum TargetFunctions {
    static func name(_ invocation: Invocation) throws -> String {
        let name = invocation.pathParams["name"] ?? ""
        guard JobRequest.isValidQueueName(name) else {
            throw APIError(.invalidInput, "name: must be 1 to 64 characters of a-z, 0-9, '_', '-' or '.', starting with a letter or digit",
                           details: ["field": "name"])
        }
        return name
    }

    /// Jobs for the org's own targets (`target:NAME`): each target must exist, its time limit
    /// caps the job's, and its name is the job's flow key unless the job gives one. One query
    /// for all of them; none when there are none.
    static func bind(_ jobs: inout [NewJob], org: Int64, context: FunctionContext, field: (Int) -> String) throws {
        let names = jobs.compactMap { $0.kind.hasPrefix(TenantTargets.kindPrefix) ? String($0.kind.dropFirst(TenantTargets.kindPrefix.count)) : nil }
        guard !names.isEmpty else { return }
        let timeouts = try store(context).timeouts(orgId: org, names: Array(Set(names)))
        for i in jobs.indices where jobs[i].kind.hasPrefix(TenantTargets.kindPrefix) {
            let name = String(jobs[i].kind.dropFirst(TenantTargets.kindPrefix.count))
            guard let timeout = timeouts[name] else {
                throw APIError(.invalidInput, "\(field(i)): this org has no target named \(name.prefix(64)); create it with PUT /v1/targets/{name}",
                               details: ["field": .string(field(i))])
            }
            jobs[i].timeoutMs = min(jobs[i].timeoutMs, timeout)
            // Each target its own flow within the org's lane: one slow endpoint does not hold up
            // the org's others, and the queue's perFlowKey limits cap each endpoint.
            if jobs[i].flowKey.isEmpty { jobs[i].flowKey = name }
        }
    }

    static func store(_ context: FunctionContext) throws -> TenantTargetStore {
        TenantTargetStore(connection: try context.database())
    }

    static func write(_ target: TenantTarget, secret: String? = nil) -> Data {
        var w = JSONWriter()
        w.beginObject()
        fields(target, to: &w)
        if let secret { w.field("secret", secret) }
        w.endObject()
        return w.data
    }

    static func fields(_ target: TenantTarget, to w: inout JSONWriter) {
        w.field("name", target.name)
        w.field("kind", TenantTargets.kindPrefix + target.name)
        w.field("url", target.url)
        w.field("timeoutSeconds", Double(target.timeoutMs) / 1000)
        if let until = target.previousSecretUntil, until > Date() { w.field("previousSecretValidUntil", until) }
        w.field("createdAt", target.createdAt)
        w.field("updatedAt", target.updatedAt)
    }
}

/// `put-target`: creates (201, with the secret, shown this once) or updates (200) the caller's
/// target NAME: `{url, timeoutSeconds?}`.
struct PutTargetFunction: ConveyorFunction {
    let name = "put-target"

    struct Body: Decodable {
        var url: String
        var timeoutSeconds: Double?
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let name = try TargetFunctions.name(invocation)
        let body = try BodyDecoder.decode(Body.self, from: invocation.request, allowed: ["url", "timeoutSeconds"])
        let policy = try context.targetPolicy()
        if let problem = TargetURL.problem(with: body.url, policy: policy) {
            throw APIError(.invalidInput, "url: \(problem)", details: ["field": "url"])
        }
        let cap = context.jobKinds["\(TenantTargets.kindPrefix)\(name)"]?.timeoutSeconds ?? JobKinds.defaultTimeoutSeconds
        let timeout = body.timeoutSeconds ?? cap
        guard timeout.isFinite, timeout >= 0.001, timeout <= cap else {
            throw APIError(.invalidInput, "timeoutSeconds: must be more than 0 and at most \(JobKinds.format(cap))", details: ["field": "timeoutSeconds"])
        }
        do {
            let (target, secret) = try TargetFunctions.store(context).put(orgId: org, name: name, url: body.url,
                                                                          timeoutMs: JobKinds.milliseconds(timeout), maxPerOrg: context.maxTargetsPerOrg)
            let r = HTTPResponse.json(secret == nil ? 200 : 201, raw: TargetFunctions.write(target, secret: secret))
            return secret == nil ? r : r.located("v1", "targets", name)
        } catch TenantTargetError.tooMany(let cap) {
            throw APIError(.conflict, "this org has \(cap) targets, the most it may have; delete one first", details: ["limit": .int(Int64(cap))])
        }
    }
}

/// `list-targets`: the caller's targets by name, without their secrets.
struct ListTargetsFunction: ConveyorFunction {
    let name = "list-targets"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        return .json(200, raw: JSONWriter.list("targets", try TargetFunctions.store(context).list(orgId: org), fields: TargetFunctions.fields))
    }
}

/// `get-target`: one of the caller's targets; another org's is a 404.
struct GetTargetFunction: ConveyorFunction {
    let name = "get-target"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let name = try TargetFunctions.name(invocation)
        guard let target = try TargetFunctions.store(context).get(orgId: org, name: name) else {
            throw APIError(.notFound, "no target named \(name)")
        }
        return .json(200, raw: TargetFunctions.write(target))
    }
}

/// `rotate-target-secret`: a new secret, shown once. `{"keepPrevious": true}` (the default)
/// keeps the old one signing beside it for a day, so the receiver can switch without a gap.
struct RotateTargetSecretFunction: ConveyorFunction {
    let name = "rotate-target-secret"

    struct Body: Decodable {
        var keepPrevious: Bool?
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let name = try TargetFunctions.name(invocation)
        let body = try BodyDecoder.decode(Body.self, from: invocation.request, emptyMeans: "{}", allowed: ["keepPrevious"])
        let store = try TargetFunctions.store(context)
        guard let secret = try store.rotate(orgId: org, name: name, keepPrevious: body.keepPrevious ?? true),
              let target = try store.get(orgId: org, name: name) else {
            throw APIError(.notFound, "no target named \(name)")
        }
        return .json(200, raw: TargetFunctions.write(target, secret: secret))
    }
}

/// `delete-target`: removes one of the caller's targets; its waiting jobs then dead-letter.
struct DeleteTargetFunction: ConveyorFunction {
    let name = "delete-target"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let name = try TargetFunctions.name(invocation)
        guard try TargetFunctions.store(context).delete(orgId: org, name: name) else {
            throw APIError(.notFound, "no target named \(name)")
        }
        return .json(200, raw: Data(#"{"deleted":true}"#.utf8))
    }
}

/// `target:*`: the job kind of every tenant target (`target:NAME`), with its queue and retry
/// policy. It has no route: process-batch hands these jobs to `TenantTargets`.
struct TenantTargetKindFunction: ConveyorFunction {
    let name = "target:*"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        throw APIError(.notFound, "target jobs run only through process-batch")
    }
}
