@testable import Intake
import Routing
import Testing

/// Every reply is validated against the org's active pipelines before anything is stored.
struct LLMReplyTests {
    static let pipelines = [
        PipelineProfile(id: 11, name: "Billing", description: "Invoices and refunds"),
        PipelineProfile(id: 12, name: "Support", description: "Bugs and outages"),
        PipelineProfile(id: 13, name: "Sales", description: "Quotes and demos"),
    ]
    static let analysis = #""analysis":{"requestType":"billing","urgency":"high","complexity":"low","keywords":["refund"],"entities":["INV-7"]}"#

    /// Content → the primary id and confidence it yields, or the failure text it must give.
    static let cases: [(String, Int64?, Double?, String?)] = [
        (#"{"primary":{"pipelineId":11,"confidence":0.92,"reasoning":"refund"},\#(analysis)}"#, 11, 0.92, nil),
        (#"{"primary":{"pipelineId":"12","confidence":"0.5","reasoning":"x"},\#(analysis)}"#, 12, 0.5, nil),
        (#"{"primary":{"pipelineId":11,"confidence":7,"reasoning":"x"},\#(analysis)}"#, 11, 1, nil),
        (#"{"primary":{"pipelineId":11,"confidence":-0.2,"reasoning":"x"},\#(analysis)}"#, 11, 0, nil),
        ("```json\n{\"primary\":{\"pipelineId\":13,\"confidence\":0.8,\"reasoning\":\"demo\"},\(analysis)}\n```", 13, 0.8, nil),
        (#"{"primary":null,\#(analysis)}"#, nil, nil, nil),
        (#"{"primary":{"pipelineId":999,"confidence":0.99,"reasoning":"x"},\#(analysis)}"#, nil, nil, "not one of this org's active pipelines"),
        (#"{"primary":{"confidence":0.9,"reasoning":"x"},\#(analysis)}"#, nil, nil, "no pipelineId"),
        (#"{"primary":{"pipelineId":11,"reasoning":"x"},\#(analysis)}"#, nil, nil, "no numeric confidence"),
        (#"{"primary":{"pipelineId":11,"confidence":0.9},\#(analysis)}"#, nil, nil, "no reasoning"),
        (#"{\#(analysis)}"#, nil, nil, "no primary"),
        (#"{"primary":{"pipelineId":11,"confidence":0.9,"reasoning":"x"}}"#, nil, nil, "no analysis"),
        (#"{"primary":{"pipelineId":11,"confidence":0.9,"reasoning":"x"},"analysis":{"urgency":"low"}}"#, nil, nil, "lacks requestType"),
        ("Sure! Billing is the right pipeline.", nil, nil, "not a JSON object"),
        ("[1,2,3]", nil, nil, "not a JSON object"),
        ("", nil, nil, "not a JSON object"),
    ]

    @Test(arguments: cases)
    func validates(content: String, primary: Int64?, confidence: Double?, failure: String?) {
        do {
            let reply = try LLMReply.validate(content, pipelines: Self.pipelines)
            #expect(failure == nil, "accepted a reply that should fail: \(content)")
            #expect(reply.primary?.pipelineId == primary)
            #expect(reply.primary?.confidence == confidence)
            if let p = reply.primary { #expect(p.name == Self.pipelines.first { $0.id == p.pipelineId }?.name) }
        } catch let e as LLMFailure {
            #expect(e.kind == .badReply)
            #expect(e.isRetryable)
            if let failure { #expect(e.message.contains(failure), "\(e.message)") } else { Issue.record("refused a good reply: \(e.message)") }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func alternativesKeepOnlyTheOrgsActivePipelinesOnceEach() throws {
        let content = #"""
            {"primary":{"pipelineId":11,"confidence":0.6,"reasoning":"x"},
             "alternatives":[{"pipelineId":11,"confidence":0.5},{"pipelineId":4242,"confidence":0.9,"reasoning":"foreign"},
                             {"pipelineId":13,"confidence":1.7},{"pipelineId":13,"confidence":0.1},{"confidence":0.3},
                             {"pipelineId":12,"confidence":"n/a"}],
             \#(Self.analysis)}
            """#
        let reply = try LLMReply.validate(content, pipelines: Self.pipelines)
        #expect(reply.alternatives.map(\.pipelineId) == [13, 12])
        #expect(reply.alternatives.map(\.confidence) == [1, 0])
        #expect(reply.droppedPipelineIds == [4242])
        #expect(reply.analysis == TextAnalysis(requestType: "billing", urgency: "high", complexity: "low", keywords: ["refund"], entities: ["INV-7"]))
    }

    /// A model talked into listing thousands of invented ids must not turn them all into an
    /// activity row and a response: the audit keeps a bounded sample.
    @Test func droppedIdsAreBounded() throws {
        let invented = (0..<5000).map { #"{"pipelineId":\#(900_000 + $0),"confidence":0.1}"# }.joined(separator: ",")
        let content = #"{"primary":{"pipelineId":11,"confidence":0.6,"reasoning":"x"},"alternatives":[\#(invented)],\#(Self.analysis)}"#
        let reply = try LLMReply.validate(content, pipelines: Self.pipelines)
        #expect(reply.droppedPipelineIds.count == LLMReply.maxDroppedIds)
        #expect(reply.droppedPipelineIds.first == 900_000)
        #expect(reply.primary?.pipelineId == 11 && reply.alternatives.isEmpty)
    }

    @Test func analysisTermsAreBounded() throws {
        let many = (0..<50).map { "\"term\($0)\"" }.joined(separator: ",")
        let content = #"{"primary":null,"analysis":{"requestType":"x","urgency":"low","complexity":"low","keywords":[\#(many),7,""],"entities":"none"}}"#
        let reply = try LLMReply.validate(content, pipelines: Self.pipelines)
        #expect(reply.analysis.keywords.count == LLMReply.maxTerms)
        #expect(reply.analysis.entities.isEmpty)
    }
}
