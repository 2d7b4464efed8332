/// What the server did with one message.
public struct SMTPDelivery: Sendable, Equatable {
    /// Recipients the server accepted (RCPT TO answered 2xx), in the order given.
    public var accepted: [String]
    /// Per-recipient RCPT TO failures with the server's reply.
    public var rejected: [SMTPRejection]
    /// The server's final reply line to DATA, e.g. "250 OK queued as …".
    public var reply: String?

    /// Creates a delivery report.
    public init(accepted: [String], rejected: [SMTPRejection], reply: String?) {
        self.accepted = accepted
        self.rejected = rejected
        self.reply = reply
    }
}

/// One recipient the server refused.
public struct SMTPRejection: Sendable, Equatable {
    /// The address as the caller gave it.
    public var address: String
    /// The SMTP reply code, e.g. 550 (permanent) or 451 (temporary).
    public var code: Int
    /// The server's whole reply, e.g. "550 5.1.1 no such user".
    public var reply: String

    /// Creates a rejection.
    public init(address: String, code: Int, reply: String) {
        self.address = address
        self.code = code
        self.reply = reply
    }

    /// A 4xx reply: the same recipient may succeed later.
    public var isTransient: Bool { (400..<500).contains(code) }
}
