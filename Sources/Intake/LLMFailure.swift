/// A failed LLM attempt. The message is safe to store and log: it never carries the API key.
public struct LLMFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// No answer within OPENAI_TIMEOUT_SECONDS.
        case timeout
        /// 429; `retryAfterSeconds` holds the server's Retry-After when it sent one.
        case rateLimited
        /// 5xx or 408.
        case serverError
        /// Connection refused, reset, DNS: the server may be back soon.
        case transport
        /// A 200 whose content is not the JSON asked for, misses required fields, or names a
        /// pipeline that is not one of the org's active ones.
        case badReply
        /// Any other 4xx (bad key, unknown model, malformed request) or a local refusal:
        /// retrying cannot help, so the offline router decides at once.
        case rejected
    }

    public var kind: Kind
    public var message: String
    public var status: Int?
    public var retryAfterSeconds: Double?

    public init(_ kind: Kind, _ message: String, status: Int? = nil, retryAfterSeconds: Double? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// Whether another attempt may succeed.
    public var isRetryable: Bool { kind != .rejected }

    public var description: String { message }
}

/// Tokens one completion used, as the server reported them.
public struct TokenUsage: Sendable, Equatable, Encodable {
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var totalTokens: Int?

    public init(promptTokens: Int?, completionTokens: Int?, totalTokens: Int?) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
    }
}

/// The assistant's reply text and the bookkeeping around it.
public struct LLMCompletion: Sendable, Equatable {
    public var content: String
    /// The model that answered, as the server names it.
    public var model: String?
    public var usage: TokenUsage?

    public init(content: String, model: String?, usage: TokenUsage?) {
        self.content = content
        self.model = model
        self.usage = usage
    }
}
