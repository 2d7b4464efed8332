/// Reads a request's type, urgency, complexity, keywords and entities from its words.
/// Rule-based and cheap: these fields inform people and the LLM prompt, not the routing.
enum TextAnalyzer {
    static func analyze(_ text: IntakeText, tokens: [Token], ranked: [PipelineMatch]) -> TextAnalysis {
        let full = text.title + "\n" + text.description
        let lower = " " + Tokenizer.words(full).joined(separator: " ") + " "
        let stems = Set(tokens.map(\.stem))
        let type = requestType(stems: stems, lower: lower, raw: full)
        return TextAnalysis(requestType: type,
                            urgency: urgency(stems: stems, lower: lower, type: type),
                            complexity: complexity(tokens: tokens, ranked: ranked),
                            keywords: keywords(tokens: tokens, ranked: ranked),
                            entities: EntityExtractor.entities(in: full))
    }

    static func requestType(stems: Set<String>, lower: String, raw: String) -> String {
        func count(_ cues: Set<String>) -> Int { cues.intersection(stems).count }
        var scores: [(String, Int)] = [
            ("incident", count(incidentCues)),
            ("bug_report", count(bugCues)),
            ("access_request", count(accessCues)),
            ("billing", count(billingCues)),
            ("feature_request", featureCues.filter { lower.contains($0) }.count),
        ]
        // Earlier entries win ties: an outage that also throws errors is an incident.
        scores.sort { $0.1 > $1.1 }
        if let best = scores.first, best.1 > 0 { return best.0 }
        let questionWords = [" how ", " what ", " why ", " when ", " where ", " which ", " can ", " is there ", " do you "]
        if raw.contains("?") || questionWords.contains(where: { lower.hasPrefix($0) || lower.contains($0) }) {
            return "question"
        }
        return "other"
    }

    static func urgency(stems: Set<String>, lower: String, type: String) -> String {
        if !criticalCues.intersection(stems).isEmpty || criticalPhrases.contains(where: lower.contains) {
            return "critical"
        }
        if highPhrases.contains(where: lower.contains) || !highCues.intersection(stems).isEmpty || type == "incident" {
            return "high"
        }
        if lowPhrases.contains(where: lower.contains) { return "low" }
        switch type {
        case "bug_report", "access_request", "billing": return "medium"
        default: return "low"
        }
    }

    static func complexity(tokens: [Token], ranked: [PipelineMatch]) -> String {
        let distinct = Set(tokens.map(\.stem)).count
        let top = ranked.first?.score ?? 0
        let topics = top > 0 ? ranked.filter { $0.score >= top * 0.5 }.count : 0
        if distinct > 60 || topics >= 3 || (distinct > 30 && topics >= 2) { return "high" }
        if distinct <= 12 && topics <= 1 { return "low" }
        return "medium"
    }

    /// The words the best pipeline matched on, strongest first, then the request's other words.
    static func keywords(tokens: [Token], ranked: [PipelineMatch]) -> [String] {
        var seen: Set<String> = []
        var result: [String] = []
        let matched = (ranked.first?.terms ?? []).sorted { $0.contribution > $1.contribution }.map(\.surface)
        for word in matched + tokens.map(\.surface) where seen.insert(word).inserted {
            result.append(word)
            if result.count == 8 { break }
        }
        return result
    }

    private static func stems(_ words: String) -> Set<String> { Set(Tokenizer.tokens(words).map(\.stem)) }

    private static let incidentCues = stems("outage ddos breach hacked compromised leak ransomware malware attack phishing intrusion unauthorized")
    private static let bugCues = stems("bug broken crash crashes error errors fail failed failing freeze frozen glitch slow timeout wrong stuck")
    private static let accessCues = stems("login password 2fa sso lockout permission permissions access invite role admin ownership")
    private static let billingCues = stems("invoice bill billing refund charge charged payment subscription receipt vat card paid overdue")
    private static let featureCues = [" feature request ", " would be great ", " could you add ", " can you add ", " please add ",
                                      " would love ", " suggest ", " suggestion ", " ability to ", " support for ",
                                      " wish ", " it would be nice ", " add a ", " add an "]
    private static let criticalCues = stems("outage breach ransomware compromised leak ddos")
    private static let criticalPhrases = [" data loss ", " production down ", " all users ", " everyone ", " security incident ", " emergency "]
    private static let highCues = stems("urgent asap immediately lockout blocked critical deadline phishing malware vulnerability")
    private static let highPhrases = [" urgent ", " asap ", " right away ", " immediately ", " cant log in ", " cannot log in ",
                                      " blocking ", " as soon as possible ", " deadline "]
    private static let lowPhrases = [" no rush ", " when you get a chance ", " whenever ", " not urgent ", " low priority "]
}
