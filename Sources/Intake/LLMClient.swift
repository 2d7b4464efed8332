import Curl
import FoundationEssentials
import JobQueue

/// Calls `POST {OPENAI_BASE_URL}/chat/completions` in JSON mode through libcurl.
///
/// Blocking, like every I/O here: run it on a worker thread or process. The curl handle is made
/// on first use and then reused, so one client keeps its connection alive across calls.
public final class LLMClient {
    public let settings: LLMSettings
    private var http: HTTPClient?
    /// Replies larger than this are refused: a classification is a few hundred bytes.
    static let maxResponseBytes = 1 << 20

    public init(settings: LLMSettings, http: HTTPClient? = nil) {
        self.settings = settings
        self.http = http
    }

    /// Sends one conversation and returns the assistant's content, or throws `LLMFailure`.
    public func complete(system: String, user: String) throws -> LLMCompletion {
        let request = HTTPClientRequest(
            method: "POST", url: settings.completionsURL,
            headers: [("Authorization", "Bearer \(settings.apiKey)"), ("Content-Type", "application/json"),
                      ("Accept", "application/json")],
            body: try requestBody(system: system, user: user),
            connectTimeout: min(settings.timeoutSeconds, 10), timeout: settings.timeoutSeconds,
            maxResponseBytes: Self.maxResponseBytes)
        let response: HTTPClientResponse
        do {
            if http == nil { http = try HTTPClient() }
            response = try http!.send(request)
        } catch let e as CurlError {
            throw Self.failure(for: e, apiKey: settings.apiKey)
        }
        return try Self.interpret(response, apiKey: settings.apiKey)
    }

    struct Body: Encodable {
        struct Message: Encodable {
            var role: String
            var content: String
        }
        struct ResponseFormat: Encodable {
            var type = "json_object"
        }
        var model: String
        var messages: [Message]
        var temperature: Double
        var max_tokens: Int
        var response_format = ResponseFormat()
    }

    func requestBody(system: String, user: String) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return try encoder.encode(Body(model: settings.model,
                                       messages: [.init(role: "system", content: system), .init(role: "user", content: user)],
                                       temperature: LLMSettings.temperature, max_tokens: settings.maxTokens))
    }

    /// A transport failure as an attempt's failure.
    static func failure(for error: CurlError, apiKey: String) -> LLMFailure {
        let detail = error.message.redacting(apiKey).clipped(to: 300)
        switch error.code {
        case .timeout: return LLMFailure(.timeout, "the LLM did not answer in time: \(detail)")
        case .couldNotResolve, .couldNotConnect, .sendFailed, .receiveFailed:
            return LLMFailure(.transport, "the LLM could not be reached: \(detail)")
        case .tooLarge: return LLMFailure(.badReply, "the LLM's reply exceeded \(maxResponseBytes) bytes")
        case .tls, .serverRejected, .invalidInput, .addressNotAllowed, .other: return LLMFailure(.rejected, "the LLM request failed: \(detail)")
        }
    }

    /// Reads a chat-completions response: the assistant's content on 200, else the failure
    /// its status means. Pure, so the status table is tested without a server.
    static func interpret(_ response: HTTPClientResponse, apiKey: String, now: Date = Date()) throws -> LLMCompletion {
        guard response.status == 200 else {
            let upstream = upstreamMessage(response.body).map { ": " + $0.redacting(apiKey).clipped(to: 300) } ?? ""
            switch response.status {
            case 429:
                let after = response.retryAfterSeconds(now: now)
                throw LLMFailure(.rateLimited, "the LLM answered 429 (rate limited)\(upstream)", status: 429, retryAfterSeconds: after)
            case 408, 500...599:
                throw LLMFailure(.serverError, "the LLM answered \(response.status)\(upstream)", status: response.status)
            default:
                throw LLMFailure(.rejected, "the LLM answered \(response.status)\(upstream)", status: response.status)
            }
        }
        guard let json = try? JSONValue.parse(response.body) else {
            throw LLMFailure(.badReply, "the LLM's response body is not JSON", status: 200)
        }
        guard case .array(let choices)? = json["choices"], let first = choices.first,
              case .string(let content)? = first["message"]?["content"] else {
            throw LLMFailure(.badReply, "the LLM's response has no choices[0].message.content", status: 200)
        }
        var usage: TokenUsage?
        if let u = json["usage"], case .object = u {
            usage = TokenUsage(promptTokens: u["prompt_tokens"]?.intValue.map { Int(clamping: $0) },
                               completionTokens: u["completion_tokens"]?.intValue.map { Int(clamping: $0) },
                               totalTokens: u["total_tokens"]?.intValue.map { Int(clamping: $0) })
        }
        return LLMCompletion(content: content, model: json["model"]?.stringValue?.clipped(to: 200), usage: usage)
    }

    /// `error.message` of an OpenAI-style error body, or nil.
    static func upstreamMessage(_ body: Data) -> String? {
        guard let json = try? JSONValue.parse(body) else { return nil }
        return json["error"]?["message"]?.stringValue ?? json["error"]?.stringValue
    }
}
