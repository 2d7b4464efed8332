import FastCGI
import Foundation
import Testing

/// Regression from the bad-input corpus: a STDIN stream that ended before CONTENT_LENGTH bytes
/// was answered as if complete, so a cut-off POST could act on half a body.
struct FCGIShortBodyTests {
    @Test(arguments: [(declared: 10, sent: 0), (declared: 10, sent: 9), (declared: 100_000, sent: 70_000)])
    func bodyShorterThanItsContentLengthIsRefusedAndTheConnectionServesOn(_ c: (declared: Int, sent: Int)) throws {
        let responder = TestResponder()
        try Fixture.withConnection(responder) { (client: FCGIClient) throws in
            let r = try client.request(id: 1, params: Fixture.params("/echo", method: "POST", body: c.declared),
                                       stdin: [UInt8](repeating: 7, count: c.sent))
            #expect(r.http?.status == 400)
            #expect(r.end == FCGIEndRequest(appStatus: 0, protocolStatus: .requestComplete))
            let next = try client.request(id: 2, params: Fixture.params("/echo", method: "POST", body: 2), stdin: [9, 9])
            #expect(next.http?.status == 200)
            #expect(next.http?.body == [9, 9])
        }
        #expect(responder.counters.responded.load(ordering: .relaxed) == 1)
    }
}
