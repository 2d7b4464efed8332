/// Why a schedule, a crontab line or a driver command could not be parsed.
///
/// The message always names the field (or the line) and quotes the offending text, so it can be
/// shown to the operator as is.
public struct CronError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of mistake it is.
    public enum Code: String, Sendable {
        /// The schedule does not have exactly five fields.
        case fieldCount
        /// A field holds something that is neither a number, a name, `*`, a range nor a step.
        case invalidValue
        /// A number or name lies outside the field's range.
        case outOfRange
        /// A range runs backwards (`5-2`).
        case invalidRange
        /// A step is zero, not a number, or follows a single value that is not a range start.
        case invalidStep
        /// An `@macro` that does not exist.
        case unknownMacro
        /// An `@macro` that exists in cron but has no meaning here (`@reboot`).
        case unsupportedMacro
        /// A crontab entry with a schedule but no command.
        case missingCommand
        /// A crontab line that is neither a comment, an environment setting nor an entry.
        case invalidLine
    }

    /// The kind of mistake.
    public var code: Code
    /// One line naming the field (or line) and the offending text.
    public var message: String
    /// The field's name (`minute`, `hour`, `day-of-month`, `month`, `day-of-week`), when one is to blame.
    public var field: String?
    /// The crontab line number (1-based), when the error came from a crontab.
    public var line: Int?

    /// Makes an error; `message` should already name the field and quote the text.
    public init(_ code: Code, _ message: String, field: String? = nil, line: Int? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.line = line
    }

    /// The message, prefixed with the line number when there is one.
    public var description: String {
        line.map { "line \($0): \(message)" } ?? message
    }

    /// The same error, attributed to a crontab line.
    func at(line: Int) -> CronError {
        var copy = self
        copy.line = line
        return copy
    }
}
