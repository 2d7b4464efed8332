/// The facts about a ranking that confidence is computed from, in index units (one keyword
/// match of a word only one pipeline has is about 1).
struct Evidence: Sendable {
    /// Scores in units, best first.
    var strengths: [Double]
    /// Whether the request held instruction-like text.
    var injected: Bool

    init(ranked: [PipelineMatch], unit: Double, injected: Bool) {
        self.strengths = ranked.map { unit > 0 ? $0.score / unit : 0 }
        self.injected = injected
    }
}

/// Turns the evidence for each pipeline into a probability that it is the right one.
///
/// The top pipeline's confidence is the product of two parts: how strong its evidence is on
/// its own (saturating in the number of distinctive matches) and how clearly it beats the
/// runner-up (the relative margin). The two parameters were chosen on the "tune" split of
/// the labelled set by comparing predicted confidence with observed accuracy per bucket,
/// leaning low; the "holdout" split only checks them. With them, one match of a distinctive
/// word in the title with no rival (about 1.1 units) just clears 0.7, while one word matched
/// only in the description (about 0.8 units) or a generic symptom ("it doesn't work") cannot.
enum ConfidenceCalibration {
    /// A request that tries to steer its own routing never auto-assigns.
    static let injectionCap = 0.5
    /// Evidence scale: strength at which the evidence factor reaches 1 - 1/e.
    static let strengthScale = 0.75
    /// How sharply a close runner-up lowers confidence.
    static let marginExponent = 0.7

    static func confidences(for evidence: Evidence) -> [Double] {
        let s = evidence.strengths
        guard let top = s.first, top > 0 else { return s.map { _ in 0 } }
        let second = s.count > 1 ? s[1] : 0
        let margin = (top - second) / top
        let strength = 1 - RoutingMath.exp(-top / strengthScale)
        var primary = strength * power(margin, marginExponent)
        if evidence.injected { primary = min(primary, injectionCap) }
        primary = clamp(primary)
        // The rest of the probability is shared among the others in proportion to their scores.
        let others = s.dropFirst().reduce(0, +)
        let rest = s.dropFirst().map { others > 0 ? min(primary, clamp((1 - primary) * strength * $0 / others)) : 0 }
        return [primary] + rest
    }

    static func clamp(_ x: Double) -> Double { min(1, max(0, x)) }

    static func power(_ x: Double, _ y: Double) -> Double {
        x <= 0 ? 0 : RoutingMath.exp(y * RoutingMath.ln(x))
    }
}
