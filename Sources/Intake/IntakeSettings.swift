import Routing

/// How requests are routed, read from the environment (12-factor).
public struct IntakeSettings: Sendable, Equatable {
    /// The LLM to ask; nil routes offline (OPENAI_API_KEY unset).
    public var llm: LLMSettings?
    /// A decision at or above this confidence assigns the request (ROUTING_AUTO_ASSIGN_THRESHOLD).
    public var autoAssignThreshold: Double

    public init(llm: LLMSettings?, autoAssignThreshold: Double = OfflineRouter.defaultAutoAssignThreshold) {
        self.llm = llm
        self.autoAssignThreshold = autoAssignThreshold
    }

    /// Reads OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_MAX_TOKENS,
    /// OPENAI_TIMEOUT_SECONDS and ROUTING_AUTO_ASSIGN_THRESHOLD; empty counts as unset. A value
    /// that does not parse is an error naming the variable (never its value: it may be a secret).
    public init(environment: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingWhitespace, !v.isEmpty else { return nil }
            return v
        }
        func number(_ name: String, _ range: ClosedRange<Double>, default fallback: Double) throws -> Double {
            guard let text = value(name) else { return fallback }
            guard let v = Double(text), v.isFinite, range.contains(v) else {
                throw IntakeError(.configuration, "\(name) must be a number from \(range.lowerBound) to \(range.upperBound)", field: name)
            }
            return v
        }
        autoAssignThreshold = try number("ROUTING_AUTO_ASSIGN_THRESHOLD", 0...1, default: OfflineRouter.defaultAutoAssignThreshold)
        guard let key = value("OPENAI_API_KEY") else {
            llm = nil
            return
        }
        var base = value("OPENAI_BASE_URL") ?? LLMSettings.defaultBaseURL
        guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
            throw IntakeError(.configuration, "OPENAI_BASE_URL must be an http:// or https:// URL", field: "OPENAI_BASE_URL")
        }
        while base.hasSuffix("/") { base.removeLast() }
        let maxTokens = try number("OPENAI_MAX_TOKENS", 1...100_000, default: Double(LLMSettings.defaultMaxTokens))
        guard maxTokens.rounded() == maxTokens else {
            throw IntakeError(.configuration, "OPENAI_MAX_TOKENS must be a whole number", field: "OPENAI_MAX_TOKENS")
        }
        llm = LLMSettings(apiKey: key, baseURL: base, model: value("OPENAI_MODEL") ?? LLMSettings.defaultModel,
                          maxTokens: Int(maxTokens),
                          timeoutSeconds: try number("OPENAI_TIMEOUT_SECONDS", 0.1...600, default: LLMSettings.defaultTimeoutSeconds))
    }
}

/// An OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp).
public struct LLMSettings: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public static let defaultBaseURL = "https://api.openai.com/v1"
    public static let defaultModel = "gpt-4o-mini"
    public static let defaultMaxTokens = 1000
    public static let defaultTimeoutSeconds = 30.0
    /// Low enough for stable classifications, as seed 000 used.
    public static let temperature = 0.3

    /// Sent as `Authorization: Bearer`; never logged, printed or echoed in errors.
    public var apiKey: String
    /// Without the trailing slash; `/chat/completions` is appended.
    public var baseURL: String
    public var model: String
    public var maxTokens: Int
    public var timeoutSeconds: Double

    public init(apiKey: String, baseURL: String = defaultBaseURL, model: String = defaultModel,
                maxTokens: Int = defaultMaxTokens, timeoutSeconds: Double = defaultTimeoutSeconds) {
        self.apiKey = apiKey
        self.baseURL = baseURL
        self.model = model
        self.maxTokens = maxTokens
        self.timeoutSeconds = timeoutSeconds
    }

    public var completionsURL: String { baseURL + "/chat/completions" }

    /// Everything but the key, so that interpolating the settings into a log line is safe.
    public var description: String {
        "LLMSettings(baseURL: \(baseURL), model: \(model), maxTokens: \(maxTokens), timeoutSeconds: \(timeoutSeconds), apiKey: ***)"
    }

    public var debugDescription: String { description }

    /// `dump` and the debugger see the same redacted fields.
    public var customMirror: Mirror {
        Mirror(self, children: ["baseURL": baseURL, "model": model, "maxTokens": maxTokens,
                                "timeoutSeconds": timeoutSeconds, "apiKey": "***"])
    }
}
