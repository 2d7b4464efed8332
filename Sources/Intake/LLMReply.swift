import JobQueue
import Routing

/// The LLM's classification, validated against the org's active pipelines.
///
/// The reply is untrusted: a model may invent ids, name another org's pipeline (if a request
/// talked it into that), drop fields or wrap its JSON in prose. Only ids of `pipelines` survive;
/// an unknown primary or a missing required field fails the attempt.
struct LLMReply: Equatable {
    var primary: PipelineSuggestion?
    var alternatives: [PipelineSuggestion]
    var analysis: TextAnalysis
    var droppedPipelineIds: [Int64]

    static let maxAlternatives = 3
    static let maxReasoning = 2000
    static let maxTerms = 20
    static let maxTermLength = 100
    /// Invented ids kept for the audit; a reply may list thousands.
    static let maxDroppedIds = 20

    static func bad(_ message: String) -> LLMFailure { LLMFailure(.badReply, message, status: 200) }

    /// Parses and validates `content`; throws `LLMFailure(.badReply)` naming what is wrong.
    static func validate(_ content: String, pipelines: [PipelineProfile]) throws -> LLMReply {
        guard let json = try? JSONValue.parse(stripFences(content)), case .object = json else {
            throw bad("the LLM's reply is not a JSON object")
        }
        let names = Dictionary(pipelines.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        var dropped: [Int64] = []

        guard let primaryJSON = json["primary"] else { throw bad("the LLM's reply has no primary") }
        var primary: PipelineSuggestion?
        if primaryJSON != .null {
            guard case .object = primaryJSON else { throw bad("the LLM's primary is not an object") }
            guard let id = pipelineId(primaryJSON["pipelineId"]) else { throw bad("the LLM's primary has no pipelineId") }
            guard let confidence = number(primaryJSON["confidence"]) else { throw bad("the LLM's primary has no numeric confidence") }
            guard let reasoning = primaryJSON["reasoning"]?.stringValue else { throw bad("the LLM's primary has no reasoning") }
            guard let name = names[id] else {
                throw bad("the LLM's primary pipeline \(id) is not one of this org's active pipelines")
            }
            primary = PipelineSuggestion(pipelineId: id, name: name, confidence: RoutingDecision.clamp(confidence),
                                         reasoning: reasoning.clipped(to: maxReasoning))
        }

        var alternatives: [PipelineSuggestion] = []
        var seen: Set<Int64> = primary.map { [$0.pipelineId] } ?? []
        switch json["alternatives"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard let id = pipelineId(item["pipelineId"]) else { continue }
                guard let name = names[id] else {
                    if dropped.count < maxDroppedIds { dropped.append(id) }
                    continue
                }
                guard seen.insert(id).inserted, alternatives.count < maxAlternatives else { continue }
                alternatives.append(PipelineSuggestion(pipelineId: id, name: name,
                                                       confidence: RoutingDecision.clamp(number(item["confidence"]) ?? 0),
                                                       reasoning: item["reasoning"]?.stringValue?.clipped(to: maxReasoning)))
            }
        case _?: throw bad("the LLM's alternatives is not an array")
        }

        guard let a = json["analysis"], case .object = a else { throw bad("the LLM's reply has no analysis object") }
        guard let requestType = a["requestType"]?.stringValue, let urgency = a["urgency"]?.stringValue,
              let complexity = a["complexity"]?.stringValue else {
            throw bad("the LLM's analysis lacks requestType, urgency or complexity")
        }
        let analysis = TextAnalysis(requestType: requestType.clipped(to: 50), urgency: urgency.clipped(to: 50),
                                    complexity: complexity.clipped(to: 50), keywords: terms(a["keywords"]), entities: terms(a["entities"]))
        return LLMReply(primary: primary, alternatives: alternatives, analysis: analysis, droppedPipelineIds: dropped)
    }

    /// Some models wrap JSON in a Markdown fence even in JSON mode.
    static func stripFences(_ content: String) -> String {
        var text = content.trimmingWhitespace
        guard text.hasPrefix("```") else { return text }
        if let newline = text.firstIndex(of: "\n") { text = String(text[text.index(after: newline)...]) } else { return text }
        if text.hasSuffix("```") { text.removeLast(3) }
        return text
    }

    /// An id as a JSON integer, or a string of digits (models sometimes quote numbers).
    static func pipelineId(_ value: JSONValue?) -> Int64? {
        switch value {
        case .int(let i)?: return i
        case .double?: return value?.intValue
        case .string(let s)?: return Int64(s.trimmingWhitespace)
        default: return nil
        }
    }

    static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let i)?: return Double(i)
        case .double(let d)? where d.isFinite: return d
        case .number(let t)?: return Double(t).flatMap { $0.isFinite ? $0 : nil }
        case .string(let s)?: return Double(s.trimmingWhitespace).flatMap { $0.isFinite ? $0 : nil }
        default: return nil
        }
    }

    static func terms(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap { $0.stringValue?.trimmingWhitespace.clipped(to: maxTermLength) }
            .filter { !$0.isEmpty }.prefix(maxTerms).map { $0 }
    }
}
