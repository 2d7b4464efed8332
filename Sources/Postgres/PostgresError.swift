/// An error from libpq, the server, or from converting values to and from Postgres text.
///
/// `message` is always libpq's or the server's own wording (trimmed); nothing here ever adds
/// the connection URL, so errors are safe to log.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// Broad category of the failure.
    public enum Code: String, Sendable {
        /// The connection could not be opened, or broke.
        case connection
        /// Missing or invalid configuration (for example no DATABASE_URL).
        case configuration
        /// The server rejected a statement.
        case query
        /// A result value could not be converted to the requested Swift type.
        case decoding
        /// A Swift value could not be sent to the server.
        case encoding
    }

    /// Broad category of the failure.
    public let code: Code
    /// The five-character SQLSTATE (PG_DIAG_SQLSTATE), e.g. "23505", when the server sent one.
    public let sqlState: String?
    /// The server's primary message or libpq's error message, trimmed.
    public let message: String
    /// The server's DETAIL line, if any.
    public let detail: String?
    /// The violated constraint (PG_DIAG_CONSTRAINT_NAME), if any.
    public let constraint: String?

    /// Creates an error; other modules use this for their own decoding failures.
    public init(
        _ code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        constraint: String? = nil
    ) {
        self.code = code
        self.message = message.trimmingWhitespace()
        self.sqlState = sqlState
        self.detail = detail?.trimmingWhitespace()
        self.constraint = constraint
    }

    /// One line (plus detail) suitable for logs.
    public var description: String {
        var text = "Postgres \(code.rawValue) error"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let detail, !detail.isEmpty { text += " (\(detail))" }
        return text
    }

    /// The statement violated a unique constraint (SQLSTATE 23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }

    /// The connection is gone or unusable: retrying on a fresh connection may succeed.
    /// Covers SQLSTATE class 08 and the shutdown codes 57P01/57P02/57P03, which the server
    /// sends just before it closes a session.
    public var isConnectionFailure: Bool {
        if code == .connection { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }
}

extension String {
    /// libpq messages end in "\n" and sometimes carry indentation; callers want one clean line.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }),
            let last = lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(self[first...last])
    }
}
