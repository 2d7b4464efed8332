import CCurl
import FoundationEssentials

extension CurlError {
    /// An error for a failed libcurl call: strerror, then the error buffer's detail when it adds
    /// anything, with every known secret scrubbed.
    init(libcurl code: CURLcode, detail: String, responseCode: Int?, secrets: [String] = []) {
        let words = String(cString: curl_easy_strerror(code))
        var message = words
        let detail = detail.trimmingWhitespace()
        if !detail.isEmpty, detail != words { message += ": " + detail }
        self.init(
            CurlError.classify(code), curlCode: Int32(bitPattern: code.rawValue),
            message: CurlError.redact(message, secrets: secrets), responseCode: responseCode)
    }

    /// Maps a CURLcode to its category. SMTP refusals are recognised by `SMTPClient`, which
    /// sees the server's replies; libcurl reports those as send errors or weird replies.
    static func classify(_ code: CURLcode) -> Code {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .couldNotResolve
        case CURLE_COULDNT_CONNECT:
            return .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_USE_SSL_FAILED,
            CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
            CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT:
            return .tls
        case CURLE_SEND_ERROR:
            return .sendFailed
        case CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2,
            CURLE_HTTP2_STREAM:
            return .receiveFailed
        case CURLE_FILESIZE_EXCEEDED:
            return .tooLarge
        case CURLE_LOGIN_DENIED:
            return .serverRejected
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT:
            return .invalidInput
        default:
            return .other
        }
    }

    /// libcurl never quotes passwords in its messages today; this keeps it that way if a
    /// future version or a server reply starts echoing them. Very short secrets are skipped:
    /// replacing every "ab" in a message would garble it without protecting anything.
    static func redact(_ message: String, secrets: [String]) -> String {
        var message = message
        for secret in secrets where secret.count >= 3 {
            message = message.replacingAll(secret, with: "***")
        }
        return message
    }
}
