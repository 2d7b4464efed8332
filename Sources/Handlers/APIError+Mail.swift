import JobQueue
import Mail

extension APIError {
    /// A mail failure as the client sees it: bad input is a 422 naming the field, missing SMTP
    /// settings and temporary delivery failures a 503 (retry later), and a permanent SMTP
    /// refusal a 422 carrying the server's reply code, since only a changed message can pass.
    init(mail error: MailError) {
        switch error.code {
        case .invalidInput:
            self.init(.invalidInput, error.message, details: error.field.map { ["field": .string($0)] } ?? [:])
        case .notConfigured:
            self.init(.unavailable, "send-email is not configured: \(error.message)")
        case .temporaryFailure:
            self.init(.unavailable, error.message, details: Self.smtpDetails(error, retryable: true))
        case .permanentFailure:
            self.init(.invalidInput, error.message, details: Self.smtpDetails(error, retryable: false))
        }
    }

    private static func smtpDetails(_ error: MailError, retryable: Bool) -> [String: JSONValue] {
        var details: [String: JSONValue] = ["retryable": .bool(retryable)]
        if let code = error.replyCode { details["smtpCode"] = .int(Int64(code)) }
        return details
    }
}

extension JobFailure {
    /// A mail failure while running as a job: only a permanent refusal or input that can never
    /// make a message dead-letters at once; the message keeps the server's reply.
    init(mail error: MailError) {
        switch error.code {
        case .notConfigured:
            self.init("send-email is not configured: \(error.message)", retryable: true)
        case .invalidInput, .permanentFailure, .temporaryFailure:
            self.init(error.message, retryable: error.isRetryable)
        }
    }
}
