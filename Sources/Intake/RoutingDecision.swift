import JobQueue
import Routing

/// A pipeline a routing proposes, with its confidence.
public struct PipelineSuggestion: Sendable, Equatable, Encodable {
    public var pipelineId: Int64
    public var name: String
    public var confidence: Double
    public var reasoning: String?

    public init(pipelineId: Int64, name: String, confidence: Double, reasoning: String? = nil) {
        self.pipelineId = pipelineId
        self.name = name
        self.confidence = confidence
        self.reasoning = reasoning
    }

    var json: JSONValue {
        var o: [String: JSONValue] = ["pipelineId": .int(pipelineId), "name": .string(name), "confidence": .double(confidence)]
        if let reasoning { o["reasoning"] = .string(reasoning) }
        return .object(o)
    }
}

/// What a router decided for one request, before the threshold is applied.
public struct RoutingDecision: Sendable, Equatable {
    public enum Router: String, Sendable, Encodable {
        case llm, offline
    }

    public var router: Router
    /// The best pipeline, or nil when none of the org's active pipelines matched at all.
    public var primary: PipelineSuggestion?
    /// Next best, best first, never repeating the primary.
    public var alternatives: [PipelineSuggestion]
    /// The confidence in `primary`, in 0...1 (0 without a primary).
    public var confidence: Double
    public var reasoning: String
    public var analysis: TextAnalysis
    /// The model that answered (LLM only).
    public var model: String?
    public var usage: TokenUsage?
    /// Ids the LLM named that are not the org's active pipelines: dropped, and kept for the audit.
    public var droppedPipelineIds: [Int64]

    public init(router: Router, primary: PipelineSuggestion?, alternatives: [PipelineSuggestion], confidence: Double,
                reasoning: String, analysis: TextAnalysis, model: String? = nil, usage: TokenUsage? = nil,
                droppedPipelineIds: [Int64] = []) {
        self.router = router
        self.primary = primary
        self.alternatives = alternatives
        self.confidence = confidence
        self.reasoning = reasoning
        self.analysis = analysis
        self.model = model
        self.usage = usage
        self.droppedPipelineIds = droppedPipelineIds
    }

    /// The offline router's answer, with pipeline names; ids it was not given are dropped.
    init(offline routing: OfflineRouting, pipelines: [PipelineProfile]) {
        let names = Dictionary(pipelines.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        func suggestion(_ r: RankedPipeline) -> PipelineSuggestion? {
            names[r.pipelineId].map { PipelineSuggestion(pipelineId: r.pipelineId, name: $0, confidence: Self.clamp(r.confidence)) }
        }
        let primary = routing.primary.flatMap(suggestion)
        self.init(router: .offline, primary: primary,
                  alternatives: routing.alternatives.compactMap(suggestion).filter { $0.pipelineId != primary?.pipelineId },
                  confidence: primary == nil ? 0 : Self.clamp(routing.confidence),
                  reasoning: routing.reasoning, analysis: routing.analysis)
    }

    static func clamp(_ x: Double) -> Double {
        x.isFinite ? min(max(x, 0), 1) : 0
    }

    /// Primary then alternatives: what is stored as suggested_pipelines.
    public var suggestions: [PipelineSuggestion] { (primary.map { [$0] } ?? []) + alternatives }

    /// The analysis as stored in ai_analysis, with the router and model that made it.
    var analysisJSON: JSONValue {
        .object([
            "requestType": .string(analysis.requestType), "urgency": .string(analysis.urgency),
            "complexity": .string(analysis.complexity),
            "keywords": .array(analysis.keywords.map(JSONValue.string)),
            "entities": .array(analysis.entities.map(JSONValue.string)),
            "router": .string(router.rawValue), "model": model.map(JSONValue.string) ?? .null,
            "usage": usage?.json ?? .null,
        ])
    }
}

extension TokenUsage {
    var json: JSONValue {
        .object(["promptTokens": promptTokens.map { .int(Int64($0)) } ?? .null,
                 "completionTokens": completionTokens.map { .int(Int64($0)) } ?? .null,
                 "totalTokens": totalTokens.map { .int(Int64($0)) } ?? .null])
    }
}
