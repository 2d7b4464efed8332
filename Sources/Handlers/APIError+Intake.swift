import Intake
import JobQueue

extension APIError {
    /// The envelope for an intake error: each code has one status.
    init(intake e: IntakeError) {
        let details: [String: JSONValue] = e.field.map { ["field": .string($0)] } ?? [:]
        switch e.code {
        case .invalidInput: self.init(.invalidInput, e.message, details: details)
        case .notFound: self.init(.notFound, e.message, details: details)
        case .conflict: self.init(.conflict, e.message, details: details)
        // A deployment mistake, not the caller's: 503 naming the variable (never its value).
        case .configuration: self.init(.unavailable, "routing is misconfigured: \(e.message)", details: details)
        }
    }
}
