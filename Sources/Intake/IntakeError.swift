/// An error the intake module reports to its callers; the handlers map each code to one status.
public struct IntakeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The input failed validation; `field` names the culprit.
        case invalidInput
        /// No such request or pipeline in the caller's org.
        case notFound
        /// The request or pipeline is in a state that does not allow the action.
        case conflict
        /// The environment is set wrongly (a variable that does not parse); `field` names it.
        case configuration
    }

    public var code: Code
    public var message: String
    /// The offending field (or environment variable).
    public var field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// A validation failure naming `field`, worded `field: message`.
    public static func invalid(_ field: String, _ message: String) -> IntakeError {
        IntakeError(.invalidInput, "\(field): \(message)", field: field)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
