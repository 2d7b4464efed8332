/// A failed transfer, an SMTP refusal, or input rejected before anything was sent.
///
/// `message` is libcurl's own wording (`curl_easy_strerror` plus the CURLOPT_ERRORBUFFER
/// text) and, for SMTP refusals, the server's reply. Known credentials are scrubbed from it,
/// so errors are safe to log.
public struct CurlError: Error, Sendable, CustomStringConvertible {
    /// Broad category of the failure.
    public enum Code: String, Sendable {
        /// The host name did not resolve.
        case couldNotResolve
        /// No TCP connection (refused, unreachable).
        case couldNotConnect
        /// The connect or total timeout expired.
        case timeout
        /// TLS handshake, certificate verification, or a required STARTTLS failed.
        case tls
        /// The connection broke while sending.
        case sendFailed
        /// The connection broke while receiving, or closed without an answer.
        case receiveFailed
        /// The server answered with an error reply, e.g. SMTP 4xx/5xx.
        case serverRejected
        /// The request's address policy refused every address the host resolved to.
        case addressNotAllowed
        /// The response exceeded the caller's size limit.
        case tooLarge
        /// The request was refused before talking to the server (bad URL, header injection…).
        case invalidInput
        /// Anything else libcurl reported.
        case other
    }

    /// Broad category of the failure.
    public let code: Code
    /// The CURLcode (0 for failures detected before libcurl ran).
    public let curlCode: Int32
    /// libcurl's own words (strerror + error buffer), or the server's reply; never credentials.
    public let message: String
    /// CURLINFO_RESPONSE_CODE when the server answered (HTTP status / SMTP reply code).
    public let responseCode: Int?

    /// Creates an error; `Curl` builds these from libcurl results, other modules may for tests.
    public init(_ code: Code, curlCode: Int32 = 0, message: String, responseCode: Int? = nil) {
        self.code = code
        self.curlCode = curlCode
        self.message = message
        self.responseCode = responseCode
    }

    /// Worth retrying later: resolve/connect/timeout/send/receive failures, and SMTP 4xx
    /// (temporary) replies.
    public var isTransient: Bool {
        switch code {
        case .couldNotResolve, .couldNotConnect, .timeout, .sendFailed, .receiveFailed:
            return true
        case .serverRejected:
            return responseCode.map { (400..<500).contains($0) } ?? false
        case .tls, .tooLarge, .invalidInput, .addressNotAllowed, .other:
            return false
        }
    }

    /// One line suitable for logs.
    public var description: String {
        var text = "curl \(code.rawValue) error"
        if curlCode != 0 { text += " [CURLcode \(curlCode)]" }
        if let responseCode { text += " [reply \(responseCode)]" }
        return text + ": " + message
    }

    /// Input refused before libcurl ran.
    static func invalidInput(_ message: String) -> CurlError {
        CurlError(.invalidInput, message: message)
    }
}
