import FoundationEssentials
import JobQueue
import Logging
import Postgres

/// A function that can run as a job without holding a thread while it waits (a timer, a
/// transfer on the curl thread). Other functions run as jobs on the blocking pool.
public protocol AsyncJobFunction: ConveyorFunction {
    func runJob(_ invocation: Invocation, context: FunctionContext) async throws -> HTTPResponse
}

/// Runs a job by calling the function its kind names, in process, as the job's org. (Kinds
/// with a target never get here: `KindExecutor` hands them to their target.)
///
/// A 2xx answer completes the job with the answer's body as its result. A 4xx answer means the
/// input can never succeed, so the job is dead-lettered at once; 408, 429 and 5xx are retried.
/// Each job gets a context of its own, so jobs running at once never share a database session.
struct FunctionRunner: JobRunner {
    let functions: [String: any ConveyorFunction]
    let configuration: Configuration
    let manifest: FunctionManifest
    let logger: Logger
    let databases: ConnectionPool?
    let pool: BlockingPool
    let lockTimeoutSeconds: Double

    init(functions: [String: any ConveyorFunction], context: FunctionContext, pool: BlockingPool = .shared) {
        self.functions = functions
        self.configuration = context.configuration
        self.manifest = context.manifest
        self.logger = context.logger
        self.databases = context.jobConnectionPool()
        self.lockTimeoutSeconds = context.lockTimeoutSeconds
        self.pool = pool
    }

    func run(_ job: JobContext) async throws -> String {
        guard let function = functions[job.job.kind] else {
            throw JobFailure("no function named \(job.job.kind) in this build", retryable: false)
        }
        let request = HTTPRequest(method: "POST", path: "", headers: ["content-type": "application/json"], body: Data(job.job.payload.text.utf8))
        let invocation = Invocation(request: request, caller: .tenant(orgId: job.job.orgId), job: job)
        let (configuration, manifest, logger, databases) = (self.configuration, self.manifest, self.logger, self.databases)
        // The job's statements end by its deadline; the lock bound is the deployment's.
        let bounds = TimeBounds(statementSeconds: max(job.remainingSeconds, 0.05), lockSeconds: lockTimeoutSeconds)
        let response: HTTPResponse
        if let function = function as? any AsyncJobFunction {
            let context = FunctionContext(job: configuration, manifest: manifest, logger: logger, databases: databases)
            context.timeBounds = bounds
            defer { context.endJob() }
            response = try await Self.translating { try await function.runJob(invocation, context: context) }
        } else {
            response = try await pool.run {
                let context = FunctionContext(job: configuration, manifest: manifest, logger: logger, databases: databases)
                context.timeBounds = bounds
                defer { context.endJob() }
                return try Self.translating { try function.handle(invocation, context: context) }
            }
        }
        guard response.isSuccess else {
            throw JobFailure(Self.message(from: response), retryable: Self.isRetryable(response.status))
        }
        return response.body.isEmpty ? "null" : String(decoding: response.body, as: UTF8.self)
    }

    /// Errors a function throws, as job failures: its own `JobFailure` as is, anything else by
    /// the status the envelope would have.
    static func translating<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as JobFailure {
            throw failure
        } catch {
            let apiError = APIError(translating: error)
            throw JobFailure(apiError.message, retryable: isRetryable(apiError.status))
        }
    }

    static func translating<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let failure as JobFailure {
            throw failure
        } catch let cancelled as CancellationError {
            throw cancelled
        } catch {
            let apiError = APIError(translating: error)
            throw JobFailure(apiError.message, retryable: isRetryable(apiError.status))
        }
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
