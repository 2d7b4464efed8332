import Glibc

/// A failure of the host itself (not of a request): reported as one `fcgi-host: …` line.
struct HostError: Error, CustomStringConvertible {
    enum Code: String {
        /// Bad options or environment: exit status 2.
        case configuration
        /// A system call failed; the message carries the C library's text.
        case system
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func configuration(_ message: String) -> HostError { HostError(.configuration, message) }

    static func system(_ what: String, errno err: Int32 = errno) -> HostError {
        HostError(.system, "\(what): \(String(cString: strerror(err)))")
    }

    var description: String { message }
}
