/// Routes intake requests to one of an organization's pipelines without an LLM: BM25F over
/// stemmed words of the pipelines' names, keywords and descriptions, widened by a general
/// support-vocabulary synonym list and single-typo correction, with a calibrated confidence.
///
/// It is deterministic and does no I/O; build one per org (cheap) and call `route` freely.
public struct OfflineRouter: Sendable {
    /// The confidence at or above which a request is auto-assigned. At this threshold the
    /// labelled evaluation set keeps auto-assign precision at or above 95%.
    public static let defaultAutoAssignThreshold: Double = 0.7

    /// The pipelines this router chooses between, in the order given.
    public let pipelines: [PipelineProfile]
    let index: PipelineIndex

    /// Creates a router over `pipelines` (only the org's active ones).
    public init(pipelines: [PipelineProfile]) {
        self.pipelines = pipelines
        self.index = PipelineIndex(pipelines: pipelines)
    }

    /// Routes one request. Deterministic; does no I/O.
    public func route(_ text: IntakeText) -> OfflineRouting {
        let title = InjectionGuard.strip(text.title)
        let description = InjectionGuard.strip(text.description)
        let injected = title.injected || description.injected
        let titleTokens = Tokenizer.tokens(title.text)
        let descriptionTokens = Tokenizer.tokens(description.text)
        let terms = QueryTerm.terms(title: titleTokens, description: descriptionTokens, index: index)

        let ranked = score(terms)
        let analysis = TextAnalyzer.analyze(text, tokens: titleTokens + descriptionTokens, ranked: ranked)
        guard let top = ranked.first, top.score > 0 else {
            return OfflineRouting(primary: nil, alternatives: [], confidence: 0,
                                  reasoning: Reasoning.noMatch(injected: injected), analysis: analysis)
        }
        let evidence = Evidence(ranked: ranked, unit: index.unit, injected: injected)
        let confidences = ConfidenceCalibration.confidences(for: evidence)
        let results = zip(ranked, confidences).map { match, confidence in
            RankedPipeline(pipelineId: index.documents[match.document].id, score: match.score, confidence: confidence)
        }
        let primary = results[0]
        let alternatives = Array(results.dropFirst().filter { $0.score > 0 }.prefix(3))
        return OfflineRouting(
            primary: primary, alternatives: alternatives, confidence: primary.confidence,
            reasoning: Reasoning.explain(ranked: ranked, confidence: primary.confidence, injected: injected, index: index),
            analysis: analysis)
    }

    /// Every pipeline's score and matched terms, best first; ties go to the lower id.
    func score(_ terms: [QueryTerm]) -> [PipelineMatch] {
        var matches: [PipelineMatch] = []
        for document in index.documents.indices {
            var match = PipelineMatch(document: document, score: 0, terms: [])
            for term in terms {
                var best: MatchedTerm?
                for candidate in term.candidates {
                    guard let hit = index.score(candidate.stem, document: document) else { continue }
                    let contribution = term.weight * candidate.share * hit.score
                    if contribution > (best?.contribution ?? 0) {
                        best = MatchedTerm(surface: term.surface, matched: candidate.stem, relation: candidate.relation,
                                           field: hit.field, contribution: contribution)
                    }
                }
                if let best { match.terms.append(best) }
            }
            match.score = Self.total(match.terms)
            matches.append(match)
        }
        return matches.sorted {
            $0.score != $1.score ? $0.score > $1.score : index.documents[$0.document].id < index.documents[$1.document].id
        }
    }
}

extension OfflineRouter {
    /// The share of its score a request word keeps when another word already matched the same
    /// pipeline word: "reseller partner partnership" is one piece of evidence, not three.
    static let sameTargetShare = 0.25

    static func total(_ terms: [MatchedTerm]) -> Double {
        var byTarget: [String: [Double]] = [:]
        for term in terms { byTarget[term.matched, default: []].append(term.contribution) }
        return byTarget.keys.sorted().reduce(0) { sum, target in
            let scores = byTarget[target]!.sorted(by: >)
            return sum + scores[0] + sameTargetShare * scores.dropFirst().reduce(0, +)
        }
    }
}

/// One pipeline's score for a request, and the terms that earned it.
struct PipelineMatch: Sendable {
    var document: Int
    var score: Double
    var terms: [MatchedTerm]
}

/// A request term that matched a pipeline, and how.
struct MatchedTerm: Sendable {
    var surface: String
    var matched: String
    var relation: QueryTerm.Relation
    /// The heaviest field it matched in: 0 name, 1 keywords, 2 description.
    var field: Int
    var contribution: Double
}
