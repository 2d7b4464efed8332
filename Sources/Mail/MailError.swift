/// Why a message could not be built or delivered.
///
/// `message` is safe to show a client and to log: it never holds SMTP credentials. A delivery
/// failure keeps the SMTP server's own reply in `message`, so a dead-lettered job says why.
public struct MailError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, which decides whether trying again can help.
    public enum Code: String, Sendable {
        /// The input cannot make a valid message; `field` names the culprit.
        case invalidInput = "invalid_input"
        /// SMTP_URL, SMTP_FROM_EMAIL or another setting is missing or malformed.
        case notConfigured = "not_configured"
        /// A 4xx reply, a refused or broken connection, a timeout: a later attempt may succeed.
        case temporaryFailure = "temporary_failure"
        /// A 5xx reply: the server will never take this message as it is.
        case permanentFailure = "permanent_failure"
    }

    /// What went wrong.
    public var code: Code
    /// A sentence for the client and the job's error history.
    public var message: String
    /// The input field at fault, as a JSON path (`to[3]`, `attachments[0].filename`).
    public var field: String?
    /// The SMTP reply code behind a delivery failure, when the server answered.
    public var replyCode: Int?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil, replyCode: Int? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.replyCode = replyCode
    }

    /// True when retrying the same message later may succeed.
    public var isRetryable: Bool { code == .temporaryFailure || code == .notConfigured }

    public var description: String { "\(code.rawValue): \(message)" }

    /// A validation failure of `field`; the message is prefixed with the field's path.
    static func invalid(_ field: String, _ reason: String) -> MailError {
        MailError(.invalidInput, field.isEmpty ? reason : "\(field): \(reason)", field: field.isEmpty ? nil : field)
    }

    /// A reason found without knowing the field, attributed to `field`.
    static func invalid(_ field: String, _ problem: InputProblem) -> MailError {
        invalid(field, problem.reason)
    }
}

/// A reason a single value is invalid, before the caller knows which field it came from.
public struct InputProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, worded to follow a field name: "must not contain CR, LF or NUL".
    public var reason: String
    /// Creates a problem.
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Characters that would end or split a header line: never allowed where text reaches one.
enum HeaderSafety {
    /// CR, LF or NUL, which could start a new header line (injection) or truncate one.
    static func hasLineBreakOrNUL(_ text: String) -> Bool {
        text.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }
    }

    /// Any C0 or C1 control character or DEL, tab included.
    static func hasControl(_ text: String, allowingTab: Bool = false) -> Bool {
        text.unicodeScalars.contains { s in
            (s.value < 0x20 && !(allowingTab && s == "\t")) || (0x7F...0x9F).contains(s.value)
        }
    }

    /// The check every header-bound string passes: line breaks and NUL get the wording a client
    /// recognises as an injection refusal; other controls are refused as well.
    static func check(_ text: String, allowingTab: Bool = false) throws(InputProblem) {
        if hasLineBreakOrNUL(text) { throw InputProblem("must not contain CR, LF or NUL") }
        if hasControl(text, allowingTab: allowingTab) { throw InputProblem("must not contain control characters") }
    }
}
