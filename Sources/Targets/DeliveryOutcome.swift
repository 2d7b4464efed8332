import Curl
import FoundationEssentials
import JobQueue

/// What an endpoint's answer means for the job. Pure, so the table is tested without a server.
///
/// - 2xx completes the job; the body is its result: JSON kept as JSON, anything else as a
///   string, an empty body as null, and a body past the cap as `{"truncated": true, …}`.
/// - 408, 425, 429 and 5xx, and a refused or dropped connection, a DNS failure or a time-out,
///   are retried; a Retry-After is honoured (within the engine's cap).
/// - 3xx dead-letters the job: redirects are not followed, so the URL needs fixing.
/// - Any other status dead-letters it with the status and the start of the body.
public enum DeliveryOutcome {
    /// How much of an error answer's body an error message quotes.
    static let quotedBytes = 200

    public static func result(of response: HTTPClientResponse, maxResultBytes: Int, now: Date = Date()) -> Result<String, JobFailure> {
        let status = response.status
        switch status {
        case 200...299:
            return .success(ResultText.of(response.body, truncated: response.bodyTruncated, limit: maxResultBytes, status: status))
        case 300...399:
            let location = response.header("Location").map { " to \(quote(Data($0.utf8)))" } ?? ""
            return .failure(JobFailure("the endpoint answered \(status) (a redirect\(location)); redirects are not followed, so the target's URL needs fixing",
                                       retryable: false))
        case 408, 425, 429, 500...599:
            return .failure(JobFailure("the endpoint answered \(status)\(excerpt(response.body))",
                                       retryable: true, retryAfterSeconds: response.retryAfterSeconds(now: now)))
        default:
            return .failure(JobFailure("the endpoint answered \(status)\(excerpt(response.body))", retryable: false))
        }
    }

    /// How an endpoint answered, as the per-target metrics count it: the status class, or
    /// what stopped the transfer.
    public static func answer(status: Int) -> String { "\(max(1, min(status / 100, 9)))xx" }

    public static func answer(for error: CurlError) -> String {
        switch error.code {
        case .couldNotResolve: return "dns"
        case .couldNotConnect: return "refused"
        case .timeout: return "timeout"
        case .sendFailed, .receiveFailed: return "broken"
        case .tls: return "tls"
        case .addressNotAllowed: return "not allowed"
        case .invalidInput, .tooLarge, .serverRejected, .other: return "other"
        }
    }

    /// A transfer that got no usable answer.
    public static func failure(for error: CurlError) -> JobFailure {
        let detail = error.message.prefix(300)
        switch error.code {
        case .couldNotResolve:
            return JobFailure("the endpoint's host did not resolve: \(detail)")
        case .couldNotConnect:
            return JobFailure("the endpoint refused or could not take the connection: \(detail)")
        case .timeout:
            return JobFailure("the endpoint did not answer in time: \(detail)")
        case .sendFailed, .receiveFailed:
            return JobFailure("the connection to the endpoint broke: \(detail)")
        case .tls:
            return JobFailure("TLS with the endpoint failed (its certificate is checked): \(detail)")
        case .addressNotAllowed:
            return JobFailure("the endpoint is not allowed: \(detail)", retryable: false)
        case .invalidInput:
            return JobFailure("the delivery could not be sent: \(detail)", retryable: false)
        case .tooLarge, .serverRejected, .other:
            return JobFailure("the delivery failed: \(detail)")
        }
    }

    /// ": <start of body>" for an error message, or "" for an empty body.
    static func excerpt(_ body: Data) -> String {
        body.isEmpty ? "" : ": " + quote(body)
    }

    /// Text from a peer, cut short and stripped of control characters.
    static func quote(_ bytes: Data) -> String {
        let text = String(decoding: bytes.prefix(quotedBytes), as: UTF8.self)
        let clean = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
        return bytes.count > quotedBytes ? clean + "…" : clean
    }
}
