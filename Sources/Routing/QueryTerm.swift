/// One distinct stem of a request, with how much it counts and what it may match.
struct QueryTerm: Sendable {
    /// How a candidate stem relates to the request's own word.
    enum Relation: Sendable { case exact, synonym, spelling }

    var surface: String
    var stem: String
    /// 1 for a title word, less for a description word, a little more when repeated.
    var weight: Double
    /// The stems this term may match in a pipeline, with the share of the match it earns.
    var candidates: [(stem: String, share: Double, relation: Relation)]

    static let titleWeight = 1.0
    static let descriptionWeight = 0.75
    static let synonymShare = 0.7
    static let spellingShare = 0.6
    /// "It doesn't work" says something is wrong, not what: such words count for half.
    static let genericSymptomFactor = 0.5

    /// The distinct terms of a request, title words first.
    static func terms(title: [Token], description: [Token], index: PipelineIndex) -> [QueryTerm] {
        var order: [String] = []
        var first: [String: Token] = [:]
        var baseWeight: [String: Double] = [:]
        var occurrences: [String: Int] = [:]
        for (tokens, weight) in [(title, titleWeight), (description, descriptionWeight)] {
            for token in tokens {
                if first[token.stem] == nil {
                    order.append(token.stem)
                    first[token.stem] = token
                }
                baseWeight[token.stem] = max(baseWeight[token.stem] ?? 0, weight)
                occurrences[token.stem, default: 0] += 1
            }
        }
        return order.map { stem in
            // A repeated word is a little more central, but never counts like two words.
            let repeats = Double(min(occurrences[stem, default: 1] - 1, 2))
            let generic = Lexicon.isGenericSymptom(stem) ? genericSymptomFactor : 1
            return QueryTerm(surface: first[stem]!.surface, stem: stem,
                             weight: baseWeight[stem, default: 0] * (1 + 0.15 * repeats) * generic,
                             candidates: candidates(for: stem, index: index))
        }
    }

    private static func candidates(for stem: String, index: PipelineIndex) -> [(stem: String, share: Double, relation: Relation)] {
        var result: [(stem: String, share: Double, relation: Relation)] = [(stem, 1, .exact)]
        result += Lexicon.synonyms(of: stem).map { ($0, synonymShare, .synonym) }
        if !index.contains(stem) && !Lexicon.isKnown(stem), let corrected = spellingCorrection(of: stem, index: index) {
            result.append((corrected, spellingShare, .spelling))
            result += Lexicon.synonyms(of: corrected).map { ($0, spellingShare * synonymShare, .spelling) }
        }
        return result
    }

    /// The known stem one typo away from `stem`, if exactly one is. Short words are one edit away
    /// from too many others, so a five-letter stem is only corrected by a missing letter
    /// ("invoc" → "invoic", but not "plant" → "plan"), and shorter ones not at all.
    static func spellingCorrection(of stem: String, index: PipelineIndex) -> String? {
        guard stem.count >= 5 else { return nil }
        let word = Array(stem)
        let matches = index.correctionVocabulary.filter { candidate in
            // Typos rarely hit the first letter, and requiring it keeps "design" from becoming "resign".
            candidate.count >= 4 && candidate.first == word.first
                && (word.count >= 6 || candidate.count > word.count)
                && EditDistance.isOneEdit(word, Array(candidate), allowSubstitution: word.count >= 6)
        }
        return matches.count == 1 ? matches.first : nil
    }
}

/// Single-typo checks for spelling correction.
enum EditDistance {
    /// Whether `a` becomes `b` by one insertion, deletion, adjacent transposition or (when
    /// allowed) substitution.
    static func isOneEdit(_ a: [Character], _ b: [Character], allowSubstitution: Bool) -> Bool {
        if a == b { return false }
        if a.count == b.count {
            let diffs = a.indices.filter { a[$0] != b[$0] }
            if diffs.count == 1 { return allowSubstitution }
            return diffs.count == 2 && diffs[1] == diffs[0] + 1 && a[diffs[0]] == b[diffs[1]] && a[diffs[1]] == b[diffs[0]]
        }
        let (short, long) = a.count < b.count ? (a, b) : (b, a)
        guard long.count == short.count + 1 else { return false }
        var i = 0
        while i < short.count && short[i] == long[i] { i += 1 }
        return short[i...] == long[(i + 1)...]
    }
}
