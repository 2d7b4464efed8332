import JobQueue

/// How a routing call is running: directly for a caller waiting on it, or as attempt `attempt`
/// of a route-intake job.
public enum RoutingAttempt: Sendable, Equatable {
    case direct
    case job(attempt: Int, isLast: Bool)
}

/// What routing one request came to.
public enum RoutingOutcome: Sendable, Equatable {
    /// Routed: assigned, or left in ROUTING for manual review with its suggestions.
    case routed(RoutingResult)
    /// The request is past routing (assigned, processing, done or rejected); it was left as is.
    case notRoutable(IntakeRequest)
}

/// A routed request and the decision behind it.
public struct RoutingResult: Sendable, Equatable {
    /// The request as stored after routing.
    public var request: IntakeRequest
    public var decision: RoutingDecision
    /// True when the confidence reached the threshold and the request is now ASSIGNED.
    public var autoAssigned: Bool
    public var threshold: Double
    /// Set when the LLM failed and the offline router decided instead (never auto-assigning).
    public var fallbackReason: String?
    public var processingTimeMs: Int
}

extension RoutingResult: Encodable {
    enum CodingKeys: String, CodingKey {
        case requestId, status, assignedPipelineId, autoAssigned, threshold, router, model, confidence, reasoning
        case primary, alternatives, analysis, usage, fallback, droppedPipelineIds, processingTimeMs
    }

    struct Analysis: Encodable {
        var requestType, urgency, complexity: String
        var keywords, entities: [String]
    }

    /// Present when the offline router stood in for a failed LLM; such a routing never assigns.
    struct Fallback: Encodable {
        var reason: String
    }

    /// The answer of route-intake (and a route-intake job's result).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(request.id, forKey: .requestId)
        try c.encode(request.status, forKey: .status)
        try c.encode(request.assignedPipelineId, forKey: .assignedPipelineId)
        try c.encode(autoAssigned, forKey: .autoAssigned)
        try c.encode(threshold, forKey: .threshold)
        try c.encode(decision.router, forKey: .router)
        try c.encode(decision.model, forKey: .model)
        try c.encode(decision.confidence, forKey: .confidence)
        try c.encode(decision.reasoning, forKey: .reasoning)
        try c.encode(decision.primary, forKey: .primary)
        try c.encode(decision.alternatives, forKey: .alternatives)
        let a = decision.analysis
        try c.encode(Analysis(requestType: a.requestType, urgency: a.urgency, complexity: a.complexity,
                              keywords: a.keywords, entities: a.entities), forKey: .analysis)
        try c.encode(decision.usage, forKey: .usage)
        try c.encode(fallbackReason.map { Fallback(reason: $0) }, forKey: .fallback)
        if !decision.droppedPipelineIds.isEmpty { try c.encode(decision.droppedPipelineIds, forKey: .droppedPipelineIds) }
        try c.encode(processingTimeMs, forKey: .processingTimeMs)
    }
}
