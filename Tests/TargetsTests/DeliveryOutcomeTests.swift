import Curl
import Foundation
import JobQueue
@testable import Targets
import Testing

/// What each answer means, without a server.
struct DeliveryOutcomeTests {
    enum Expect: Sendable {
        case done(String)
        case retry(String, after: Double?)
        case dead(String)
    }

    static let now = Date(timeIntervalSince1970: 784_111_777)

    @Test(arguments: [
        (200, [], #"{"ok":true}"#, Expect.done(#"{"ok":true}"#)),
        (201, [], "plain words", .done(#""plain words""#)),
        (204, [], "", .done("null")),
        (200, [], "[1, 2", .done(#""[1, 2""#)),
        (200, [], "a\u{0}b", .done("\"a\u{FFFD}b\"")),
        (200, [], #"{"s":"\u0000"}"#, .done(#""{\"s\":\"\\u0000\"}""#)),
        (301, [("Location", "https://elsewhere.example/x")], "", .dead("redirects are not followed")),
        (302, [], "", .dead("302")),
        (400, [], "bad field", .dead("the endpoint answered 400: bad field")),
        (410, [], "gone", .dead("410: gone")),
        (404, [], "", .dead("the endpoint answered 404")),
        (408, [], "", .retry("408", after: nil)),
        (425, [], "", .retry("425", after: nil)),
        (429, [("Retry-After", "120")], "slow down", .retry("429: slow down", after: 120)),
        (429, [("Retry-After", "Sun, 06 Nov 1994 08:50:37 GMT")], "", .retry("429", after: 60)),
        (500, [], "boom", .retry("500: boom", after: nil)),
        (503, [("Retry-After", "7")], "", .retry("503", after: 7)),
        (199, [], "", .dead("199")),
    ] as [(Int, [(String, String)], String, Expect)])
    func statusDecidesTheOutcome(status: Int, headers: [(String, String)], body: String, expect: Expect) {
        let response = HTTPClientResponse(status: status, headers: headers, body: Data(body.utf8))
        let outcome = DeliveryOutcome.result(of: response, maxResultBytes: 1000, now: Self.now)
        switch (expect, outcome) {
        case (.done(let text), .success(let result)):
            #expect(result == text)
            #expect((try? JSONValue.parse(result)) != nil, "a result is JSON")
        case (.retry(let words, let after), .failure(let failure)):
            #expect(failure.retryable)
            #expect(failure.message.contains(words), "\(failure.message)")
            #expect(failure.retryAfterSeconds == after)
        case (.dead(let words), .failure(let failure)):
            #expect(!failure.retryable)
            #expect(failure.message.contains(words), "\(failure.message)")
        default:
            Issue.record("\(status): expected \(expect), got \(outcome)")
        }
    }

    @Test func aTruncatedBodySaysSoInTheResult() throws {
        let response = HTTPClientResponse(status: 200, headers: [], body: Data(repeating: UInt8(ascii: "y"), count: 10), bodyTruncated: true)
        let text = try DeliveryOutcome.result(of: response, maxResultBytes: 10).get()
        let json = try JSONValue.parse(text)
        #expect(json["truncated"] == .bool(true))
        #expect(json["limitBytes"] == .int(10))
        #expect(json["status"] == .int(200))
        #expect(json["body"] == .string("yyyyyyyyyy"))
    }

    @Test func anErrorQuotesOnlyTheStartOfTheBodyWithoutControlCharacters() {
        let body = "line one\r\nline two" + String(repeating: "z", count: 5000)
        let response = HTTPClientResponse(status: 422, headers: [], body: Data(body.utf8))
        guard case .failure(let failure) = DeliveryOutcome.result(of: response, maxResultBytes: 10) else {
            Issue.record("422 completed")
            return
        }
        #expect(failure.message.count < 300)
        #expect(!failure.message.contains("\r") && !failure.message.contains("\n"))
        #expect(failure.message.hasSuffix("…"))
    }

    @Test(arguments: [
        (CurlError.Code.couldNotResolve, true), (.couldNotConnect, true), (.timeout, true), (.sendFailed, true),
        (.receiveFailed, true), (.tls, true), (.addressNotAllowed, false), (.invalidInput, false), (.other, true),
    ])
    func transportFailures(code: CurlError.Code, retryable: Bool) {
        let failure = DeliveryOutcome.failure(for: CurlError(code, message: "detail"))
        #expect(failure.retryable == retryable)
        #expect(failure.message.contains("detail"))
    }
}
