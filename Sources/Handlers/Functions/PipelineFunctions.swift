import FoundationEssentials
import Intake
import JobQueue

/// `upsert-pipeline`: creates a pipeline of the caller's org (201), or updates one (200): by
/// `id`, or the one with the same `name`. Omitted fields keep their stored values.
struct UpsertPipelineFunction: ConveyorFunction {
    let name = "upsert-pipeline"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        let body = try BodyDecoder.parse(invocation.request)
        return try intakeCall {
            let input = try PipelineInput(json: body)
            let (pipeline, created) = try context.intakeService().upsertPipeline(input, orgId: org)
            let response = try HTTPResponse.json(created ? 201 : 200, pipeline)
            return created ? response.located("v1", "pipelines", String(pipeline.id)) : response
        }
    }
}

/// `get-pipeline`: one pipeline of the caller's org; another org's is a 404, like one that does
/// not exist.
struct GetPipelineFunction: ConveyorFunction {
    let name = "get-pipeline"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        guard let text = invocation.pathParams["id"], let id = Int64(text), id > 0 else {
            throw APIError(.notFound, "no such pipeline")
        }
        return try intakeCall {
            guard let pipeline = try context.intakeService().pipeline(id: id, orgId: org) else {
                throw APIError(.notFound, "no such pipeline")
            }
            return try .json(200, pipeline)
        }
    }
}

/// `list-pipelines`: the caller's pipelines by name; `?active=true` leaves out inactive ones.
struct ListPipelinesFunction: ConveyorFunction {
    let name = "list-pipelines"

    struct PageBody: Encodable {
        var pipelines: [Pipeline]
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let org = try invocation.caller.requireOrg()
        var includeInactive = true
        switch invocation.request.query["active"] {
        case nil, "false"?: break
        case "true"?: includeInactive = false
        case _?: throw APIError(.invalidInput, "active: must be true or false", details: ["field": "active"])
        }
        return try intakeCall {
            try .json(200, PageBody(pipelines: context.intakeService().pipelines(orgId: org, includeInactive: includeInactive)))
        }
    }
}
