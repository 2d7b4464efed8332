import FoundationEssentials
import JobQueue
import Targets

/// `report-progress`: a target's endpoint or program reports the progress of the attempt it
/// runs, with the token it was given (`conveyor-progress-token`, `CONVEYOR_PROGRESS_TOKEN`):
/// `{token, percent, message?}`. job-status then shows it, and the attempt's lease is kept
/// alive, never past its deadline. The token is the credential: it names one attempt, is
/// signed with a key derived from the processor key, and is worth nothing after the deadline.
struct ReportProgressFunction: ConveyorFunction {
    let name = "report-progress"

    struct Body: Decodable {
        var token: String
        var percent: Int
        var message: String?
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let body = try BodyDecoder.decode(Body.self, from: invocation.request, allowed: ["token", "percent", "message"])
        guard let id = invocation.pathParams["id"].flatMap(Int64.init), id > 0 else {
            throw APIError(.invalidInput, "id: must be a job id", details: ["field": "id"])
        }
        guard (0...100).contains(body.percent) else {
            throw APIError(.invalidInput, "percent: must be between 0 and 100", details: ["field": "percent"])
        }
        if let message = body.message, message.count > 500 || message.unicodeScalars.contains(where: { $0.value == 0 }) {
            throw APIError(.invalidInput, "message: must be at most 500 characters, without NUL", details: ["field": "message"])
        }
        guard let key = context.configuration.processorKey,
              let claim = ProgressTokens(processorKey: key).verify(body.token), claim.jobId == id else {
            throw APIError(.forbidden, "the progress token is not valid for this job, or its attempt's deadline has passed")
        }
        let remaining = max(0, claim.deadline.timeIntervalSinceNow)
        let applied = try PostgresJobStore(connection: context.database()).reportProgress(
            jobId: id, attempt: claim.attempt, owner: claim.owner, percent: body.percent, message: body.message,
            leaseSeconds: remaining + Processor.recordMargin, capSeconds: remaining + Processor.recordMargin)
        guard applied else {
            throw APIError(.conflict, "this attempt is no longer running")
        }
        return .json(200, raw: Data(#"{"accepted":true}"#.utf8))
    }
}
