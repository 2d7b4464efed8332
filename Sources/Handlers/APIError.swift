import Intake
import JobQueue
import Mail
import Postgres

/// The one error type that reaches a client, always as
/// `{"error": {"code": "…", "message": "…", "details": {…}}}`.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidJSON = "invalid_json"
        case invalidInput = "invalid_input"
        case unauthorized
        case forbidden
        case notFound = "not_found"
        case methodNotAllowed = "method_not_allowed"
        case conflict
        case payloadTooLarge = "payload_too_large"
        case unsupportedMediaType = "unsupported_media_type"
        case rateLimited = "rate_limited"
        case unavailable
        case `internal`
    }

    public var code: Code
    public var message: String
    public var details: [String: JSONValue]
    /// Seconds a client should wait before trying again (`Retry-After` on 429 and 503); nil
    /// means the default of the status.
    public var retryAfterSeconds: Int?
    /// The front door's id of the request, so a client can quote it and an operator find the
    /// log lines; set by the router.
    public var requestId: String?

    public init(_ code: Code, _ message: String, details: [String: JSONValue] = [:], retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.details = details
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// The headers a status calls for (RFC 9110): `WWW-Authenticate` with a 401 (a key goes as
    /// `Authorization: Bearer` or `x-api-key`), `Retry-After` with a 429 or a 503.
    public var headers: [(String, String)] {
        switch code {
        case .unauthorized: return [("WWW-Authenticate", #"Bearer realm="conveyor""#)]
        case .rateLimited: return [("Retry-After", String(max(1, retryAfterSeconds ?? 1)))]
        case .unavailable: return [("Retry-After", String(max(1, retryAfterSeconds ?? Self.unavailableRetryAfter)))]
        default: return []
        }
    }

    /// What a 503 without a better estimate asks a client to wait: long enough for a database
    /// restart or a held lock to pass, short enough not to stall a queue.
    static let unavailableRetryAfter = 2

    /// The HTTP status of each code: the only place statuses are decided.
    public var status: Int {
        switch code {
        case .invalidJSON: return 400
        case .unauthorized: return 401
        case .forbidden: return 403
        case .notFound: return 404
        case .methodNotAllowed: return 405
        case .conflict: return 409
        case .payloadTooLarge: return 413
        case .unsupportedMediaType: return 415
        case .invalidInput: return 422
        case .rateLimited: return 429
        case .internal: return 500
        case .unavailable: return 503
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The envelope as JSON text.
    public var envelopeJSON: String {
        var body: [String: JSONValue] = ["code": .string(code.rawValue), "message": .string(message)]
        if !details.isEmpty { body["details"] = .object(details) }
        if let requestId { body["requestId"] = .string(requestId) }
        return JSONValue.object(["error": .object(body)]).jsonText
    }

    /// Translates errors from the layers below. Anything unexpected becomes a bare `internal`
    /// error: its text may carry server detail, so it is logged, never sent.
    public init(translating error: any Error) {
        switch error {
        case let e as APIError:
            self = e
        case let e as JobQueueError:
            var details = e.details
            if let field = e.field { details["field"] = .string(field) }
            switch e.code {
            case .invalidInput: self.init(.invalidInput, e.message, details: details)
            case .notFound: self.init(.notFound, e.message, details: details)
            case .conflict: self.init(.conflict, e.message, details: details)
            }
        case let e as IntakeError:
            self.init(intake: e)
        case let e as MailError:
            self.init(mail: e)
        case let e as PostgresError where e.isConnectionFailure:
            self.init(.unavailable, "the database is unreachable; retry shortly")
        case let e as PostgresError where e.sqlState.map(TimeBounds.sqlStates.contains) == true:
            // statement_timeout or lock_timeout: the database is busy (a held lock, a slow
            // statement), and nothing of this request was kept.
            self.init(.unavailable, "the database is busy and this request ran past its time bound; retry shortly",
                      retryAfterSeconds: 1)
        case let e as PostgresError where e.sqlState == "42P01":
            // undefined_table: the schema was never migrated, an operator's fix, not a bug.
            self.init(.unavailable, "the database is not migrated yet: run local-host migrate")
        default:
            self.init(.internal, "internal error")
        }
    }
}
