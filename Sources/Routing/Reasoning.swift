/// The short human explanation attached to a routing: which words matched which pipeline,
/// the runner-up and the margin.
enum Reasoning {
    static let injectionNote = "Ignored instruction-like text in the request (possible prompt injection); confidence capped."

    static func noMatch(injected: Bool) -> String {
        let base = "No word of the request matched any pipeline's name, keywords or description."
        return injected ? base + " " + injectionNote : base
    }

    static func explain(ranked: [PipelineMatch], confidence: Double, injected: Bool, index: PipelineIndex) -> String {
        let top = ranked[0]
        var text = "Matched \"\(index.documents[top.document].name)\" on \(describe(top.terms)) (score \(format(top.score)))"
        if ranked.count > 1, ranked[1].score > 0 {
            let second = ranked[1]
            let margin = RoutingMath.nearest((top.score - second.score) / top.score * 100)
            text += "; runner-up \"\(index.documents[second.document].name)\" on \(describe(second.terms)) "
                + "(score \(format(second.score))), margin \(margin)%."
        } else {
            text += "; no other pipeline matched."
        }
        text += " Confidence \(format(confidence))"
        text += confidence >= OfflineRouter.defaultAutoAssignThreshold ? "." : ", below the auto-assign threshold."
        if injected { text += " " + injectionNote }
        return text
    }

    /// "invoice, bill (≈ invoice), pasword (→ password)", strongest first, at most four.
    static func describe(_ terms: [MatchedTerm]) -> String {
        let shown = terms.sorted { $0.contribution > $1.contribution }.prefix(4).map { term -> String in
            switch term.relation {
            case .exact: return "\"\(term.surface)\""
            case .synonym: return "\"\(term.surface)\" (≈ \(term.matched))"
            case .spelling: return "\"\(term.surface)\" (→ \(term.matched))"
            }
        }
        let more = terms.count > 4 ? " and \(terms.count - 4) more" : ""
        return shown.joined(separator: ", ") + more
    }

    /// Two decimals, without Foundation's formatters.
    static func format(_ x: Double) -> String {
        let hundredths = RoutingMath.nearest(x * 100)
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
