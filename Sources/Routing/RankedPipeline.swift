/// One pipeline in a routing result, with its raw score and calibrated confidence.
public struct RankedPipeline: Sendable, Equatable {
    /// The id of a pipeline the router was given.
    public var pipelineId: Int64
    /// The raw relevance score (unbounded, higher is better); only comparable within one call.
    public var score: Double
    /// The calibrated probability, in 0...1, that this pipeline is the right one.
    public var confidence: Double

    /// Creates a ranked pipeline.
    public init(pipelineId: Int64, score: Double, confidence: Double) {
        self.pipelineId = pipelineId
        self.score = score
        self.confidence = confidence
    }
}
