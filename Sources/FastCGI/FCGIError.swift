import Glibc

/// A FastCGI, socket or CGI failure. A connection that throws one is closed; the process lives on.
public struct FCGIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The peer broke the protocol: bad version, inconsistent lengths, garbage.
        case malformedRecord = "malformed_record"
        /// A record or sequence that is valid FastCGI but not allowed at this point.
        case protocolViolation = "protocol_violation"
        /// Params over the cap.
        case tooLarge = "too_large"
        /// The peer stalled longer than the read or write timeout.
        case timeout
        /// The peer closed the connection in the middle of a record or request.
        case peerClosed = "peer_closed"
        /// A system call failed; the message carries strerror's text.
        case system
        /// A listen address or socket option that cannot work.
        case configuration
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A `system` error from `errno`, with the C library's own message.
    public static func system(_ what: String, errno err: Int32 = errno) -> FCGIError {
        FCGIError(.system, "\(what): \(String(cString: strerror(err)))")
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
