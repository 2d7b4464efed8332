import Intake
import JobQueue

extension FunctionContext {
    /// The intake service on this worker's connection, with the routing settings of the
    /// environment. A setting that does not parse is a 503 naming the variable.
    /// The intake service; `within` bounds an LLM call (a job's time left before its deadline).
    func intakeService(within seconds: Double? = nil) throws -> IntakeService {
        var settings = try intakeCall { try IntakeSettings(environment: configuration.environment) }
        if let seconds, var llm = settings.llm {
            // Leave a moment of the attempt for reading and writing the request's rows.
            llm.timeoutSeconds = min(llm.timeoutSeconds, max(seconds - 1, 0.1))
            settings.llm = llm
        }
        return IntakeService(connection: try database(), settings: settings, logger: logger)
    }
}

/// Runs intake work, turning `IntakeError` into the envelope.
func intakeCall<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as IntakeError {
        throw APIError(intake: e)
    }
}

/// A positive id from a path parameter, or a 404 (a malformed id names nothing).
func pathId(_ invocation: Invocation, _ what: String) throws -> Int64 {
    guard let text = invocation.pathParams["id"], let id = Int64(text), id > 0 else {
        throw APIError(.notFound, "no such \(what)")
    }
    return id
}
