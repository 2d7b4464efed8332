import FoundationEssentials
import JobQueue

/// A job kind written in Swift by a team that uses Conveyor as a library:
///
///     struct ResizeImage: JobFunction {
///         struct Payload: Decodable, Sendable { var url: String; var width: Int }
///         struct Output: Encodable, Sendable { var thumbnail: String }
///         let name = "resize-image"
///         func run(_ payload: Payload, job: JobContext) async throws -> Output { … }
///     }
///     FunctionRegistry.register(ResizeImage())   // then FCGIHost.main() or LocalHost.main()
///
/// functions.json names it like any job kind (an entry with a `job` policy and no route). The
/// payload is decoded from the job's JSON (a payload that does not decode dead-letters the job);
/// the output, encoded, is its result. Throw `JobFailure` to choose between retry and dead;
/// any other error is retried. Work that waits should await, so it holds no thread; `job`
/// tells the time left and takes progress reports.
public protocol JobFunction: Sendable {
    associatedtype Payload: Decodable & Sendable
    associatedtype Output: Encodable & Sendable
    /// The kind's name in functions.json.
    var name: String { get }
    func run(_ payload: Payload, job: JobContext) async throws -> Output
}

/// A `JobFunction` as one of the host's functions.
struct JobFunctionAdapter<F: JobFunction>: AsyncJobFunction {
    let function: F
    var name: String { function.name }

    init(_ function: F) { self.function = function }

    func runJob(_ invocation: Invocation, context: FunctionContext) async throws -> HTTPResponse {
        guard let job = invocation.job else {
            throw APIError(.notFound, "\(name) runs only as a job")
        }
        let payload: F.Payload
        do {
            payload = try JSONDecoder().decode(F.Payload.self, from: invocation.request.body)
        } catch {
            throw JobFailure("the payload does not fit \(name): \(error)", retryable: false)
        }
        let output = try await function.run(payload, job: job)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return .json(200, raw: try encoder.encode(output))
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        throw APIError(.notFound, "\(name) runs only as a job")
    }
}
