import FoundationEssentials
import Intake
import JobQueue

/// `list-intake`: the caller's intake requests, newest first, filtered by status and source,
/// keyset-paged with `before` (the previous page's `nextCursor`).
struct ListIntakeFunction: ConveyorFunction {
    let name = "list-intake"

    struct PageBody: Encodable {
        var requests: [IntakeRequest]
        var nextCursor: Int64?

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(requests, forKey: .requests)
            try c.encode(nextCursor, forKey: .nextCursor)
        }

        enum CodingKeys: String, CodingKey { case requests, nextCursor }
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let q = invocation.request.query
        var filter = IntakeFilter()
        if let s = q["status"] {
            guard let status = IntakeStatus(rawValue: s.uppercased()) else {
                throw APIError(.invalidInput, "status: must be one of \(IntakeStatus.allCases.map(\.rawValue).joined(separator: ", "))", details: ["field": "status"])
            }
            filter.status = status
        }
        if let s = q["source"] {
            guard let source = IntakeSource(parsing: s) else {
                throw APIError(.invalidInput, "source: must be one of \(IntakeSource.allCases.map(\.rawValue).joined(separator: ", "))", details: ["field": "source"])
            }
            filter.source = source
        }
        let paging = try PageQuery(q, cursorNoun: "request")
        if let limit = paging.limit { filter.limit = limit }
        filter.before = paging.before
        return try intakeCall {
            let page = try context.intakeService().requests(orgId: org, filter: filter)
            return try .json(200, PageBody(requests: page.requests, nextCursor: page.nextCursor))
        }
    }
}

/// `get-intake`: one request of the caller's org with its routing fields and activity log.
/// Another org's request is a 404, exactly like one that does not exist.
struct GetIntakeFunction: ConveyorFunction {
    let name = "get-intake"

    /// The request's fields with `activity` beside them.
    struct Body: Encodable {
        var request: IntakeRequest
        var activity: [ActivityEntry]

        enum CodingKeys: String, CodingKey { case activity }

        func encode(to encoder: Encoder) throws {
            try request.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(activity, forKey: .activity)
        }
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let id = try pathId(invocation, "intake request")
        return try intakeCall {
            let (request, activity) = try context.intakeService().request(id: id, orgId: org)
            return try .json(200, Body(request: request, activity: activity))
        }
    }
}

/// `assign-intake`: assigns a request by hand to an active pipeline of the same org and logs
/// MANUAL_ASSIGN. Another org's request or pipeline is a 404.
struct AssignIntakeFunction: ConveyorFunction {
    let name = "assign-intake"

    struct Input: Decodable {
        var pipelineId: Int

        enum CodingKeys: String, CodingKey { case pipelineId }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            guard let id = try c.decodeWholeNumberIfPresent(forKey: .pipelineId) else {
                throw DecodingError.keyNotFound(CodingKeys.pipelineId, .init(codingPath: [], debugDescription: "is required"))
            }
            pipelineId = id
        }
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let id = try pathId(invocation, "intake request")
        let input = try BodyDecoder.decode(Input.self, from: invocation.request)
        guard input.pipelineId > 0 else {
            throw APIError(.invalidInput, "pipelineId: must be a positive pipeline id", details: ["field": "pipelineId"])
        }
        return try intakeCall {
            try .json(200, context.intakeService().assign(requestId: id, pipelineId: Int64(input.pipelineId), orgId: org))
        }
    }
}
