/// The offline router's answer for one request.
public struct OfflineRouting: Sendable, Equatable {
    /// The best pipeline, or nil when no pipeline matched anything.
    public var primary: RankedPipeline?
    /// The next best pipelines, at most 3, best first.
    public var alternatives: [RankedPipeline]
    /// The calibrated confidence in `primary`, in 0...1; 0 when there is no primary.
    public var confidence: Double
    /// A short human explanation: which terms matched which pipeline, and the margin.
    public var reasoning: String
    /// The request's type, urgency, complexity, keywords and entities.
    public var analysis: TextAnalysis

    /// Creates a routing result.
    public init(primary: RankedPipeline?, alternatives: [RankedPipeline], confidence: Double,
                reasoning: String, analysis: TextAnalysis) {
        self.primary = primary
        self.alternatives = alternatives
        self.confidence = confidence
        self.reasoning = reasoning
        self.analysis = analysis
    }
}
