import Foundation
import Intake
import JobQueue
import Testing

/// Bodies are validated before anything is stored; each refusal names its field.
struct InputValidationTests {
    /// A route-intake body → the field it fails on, or nil when it is valid.
    static let routeBodies: [(String, String?)] = [
        (#"{"requestId":7}"#, nil),
        (#"{"requestId":7,"defer":true,"queue":"routing-2"}"#, nil),
        (#"{"title":"Refund please","source":"EMAIL"}"#, nil),
        (#"{"title":"  Refund  ","source":"chat","priority":3,"description":"x","requestData":{"a":[1]},"defer":true}"#, nil),
        (#"{"requestId":0}"#, "requestId"),
        (#"{"requestId":7,"title":"x"}"#, "title"),
        (#"{"requestId":"7"}"#, "requestId"),
        (#"{"source":"EMAIL"}"#, "title"),
        (#"{"title":"   ","source":"EMAIL"}"#, "title"),
        (#"{"title":"\#(String(repeating: "é", count: 201))","source":"EMAIL"}"#, "title"),
        (#"{"title":"two\nlines","source":"EMAIL"}"#, "title"),
        (#"{"title":"x"}"#, "source"),
        (#"{"title":"x","source":"FAX"}"#, "source"),
        (#"{"title":"x","source":"API","priority":4}"#, "priority"),
        (#"{"title":"x","source":"API","priority":1.5}"#, "priority"),
        (#"{"title":"x","source":"API","requestData":[1]}"#, "requestData"),
        (#"{"title":"x","source":"API","requestData":{"s":"a\u0000b"}}"#, "requestData"),
        (#"{"title":"x","source":"API","description":"\#(String(repeating: "d", count: 10_001))"}"#, "description"),
        (#"{"title":"x","source":"API","queue":"q"}"#, "queue"),
        (#"{"title":"x","source":"API","defer":true,"queue":"Bad Queue"}"#, "queue"),
        (#"{"title":"x","source":"API","defer":"yes"}"#, "defer"),
        (#"{"title":"x","source":"API","pipelineId":3}"#, "pipelineId"),
        (#"[1]"#, nil as String?),
    ]

    @Test(arguments: routeBodies)
    func routeIntakeBodies(body: String, failingField: String?) throws {
        let json = try JSONValue.parse(body)
        do {
            let input = try RouteIntakeInput(json: json)
            #expect(failingField == nil, "accepted \(body)")
            if case .new(let new) = input.target {
                #expect(new.title == new.title.trimmingCharacters(in: .whitespaces))
                #expect(IntakeSource.allCases.contains(new.source))
            }
        } catch let e as IntakeError {
            #expect(e.code == .invalidInput)
            if body == "[1]" { #expect(e.field == nil) } else { #expect(e.field == failingField, "\(body): \(e)") }
        }
    }

    @Test func newRequestsTakeDefaults() throws {
        let r = try NewIntakeRequest(title: " Hi ", source: "form")
        #expect(r == (try NewIntakeRequest(title: "Hi", description: "", source: "FORM", priority: 1, requestData: .object([:]))))
        #expect(r.source == .form)
    }

    /// A pipeline upsert body → the field it fails on, or nil.
    static let pipelineBodies: [(String, String?)] = [
        (#"{"name":"Billing","description":"Invoices","keywords":["refund"," invoice ","Refund"],"isActive":true}"#, nil),
        (#"{"id":4,"isActive":false}"#, nil),
        (#"{"description":"no name"}"#, "name"),
        (#"{"id":-1,"name":"x"}"#, "id"),
        (#"{"name":""}"#, "name"),
        (#"{"name":"\#(String(repeating: "n", count: 101))"}"#, "name"),
        (#"{"name":"x","keywords":"refund"}"#, "keywords"),
        (#"{"name":"x","keywords":["ok",""]}"#, "keywords[1]"),
        (#"{"name":"x","keywords":[1]}"#, "keywords[0]"),
        (#"{"name":"x","isActive":"no"}"#, "isActive"),
        (#"{"name":"x","colour":"red"}"#, "colour"),
    ]

    @Test(arguments: pipelineBodies)
    func pipelineUpserts(body: String, failingField: String?) throws {
        do {
            let input = try PipelineInput(json: try JSONValue.parse(body))
            #expect(failingField == nil, "accepted \(body)")
            if input.name == "Billing" { #expect(input.keywords == ["refund", "invoice"]) }
        } catch let e as IntakeError {
            #expect(e.code == .invalidInput)
            #expect(e.field == failingField, "\(body): \(e)")
        }
    }
}
