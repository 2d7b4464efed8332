import FoundationEssentials
import JobQueue

/// Runs a job by calling the function its kind names, in process, as the job's org.
///
/// A 2xx answer completes the job with the answer's body as its result. A 4xx answer means the
/// input can never succeed, so the job is dead-lettered at once; 408, 429 and 5xx are retried.
struct FunctionExecutor: JobExecutor {
    let functions: [String: any ConveyorFunction]
    let context: FunctionContext

    func execute(_ job: ClaimedJob, context jobContext: JobContext) throws -> String {
        guard let function = functions[job.kind] else {
            throw JobFailure("no function named \(job.kind) in this build", retryable: false)
        }
        let request = HTTPRequest(method: "POST", path: "", headers: ["content-type": "application/json"], body: Data(job.payload.text.utf8))
        let response: HTTPResponse
        do {
            response = try function.handle(Invocation(request: request, caller: .tenant(orgId: job.orgId), job: jobContext), context: context)
        } catch let failure as JobFailure {
            throw failure
        } catch {
            let apiError = APIError(translating: error)
            throw JobFailure(apiError.message, retryable: Self.isRetryable(apiError.status))
        }
        guard response.isSuccess else {
            let message = Self.message(from: response)
            throw JobFailure(message, retryable: Self.isRetryable(response.status))
        }
        return response.body.isEmpty ? "null" : String(decoding: response.body, as: UTF8.self)
    }

    static func isRetryable(_ status: Int) -> Bool {
        status == 408 || status == 429 || status >= 500
    }

    static func message(from response: HTTPResponse) -> String {
        if let envelope = try? JSONValue.parse(response.body), let message = envelope["error"]?["message"]?.stringValue {
            return "\(response.status): \(message)"
        }
        return "HTTP \(response.status)"
    }
}
