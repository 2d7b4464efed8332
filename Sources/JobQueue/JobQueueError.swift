/// An error the engine reports to its callers; hosts map each code to one HTTP status.
public struct JobQueueError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The input failed validation; `field` names the culprit.
        case invalidInput
        /// No such job in the caller's org.
        case notFound
        /// The job is in a state that does not allow the action.
        case conflict
    }

    public var code: Code
    public var message: String
    /// The offending field as a path, e.g. `jobs[3].priority`.
    public var field: String?
    public var details: [String: JSONValue]

    public init(_ code: Code, _ message: String, field: String? = nil, details: [String: JSONValue] = [:]) {
        self.code = code
        self.message = message
        self.field = field
        self.details = details
    }

    static func invalid(_ field: String, _ message: String, details: [String: JSONValue] = [:]) -> JobQueueError {
        JobQueueError(.invalidInput, "\(field): \(message)", field: field, details: details)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
