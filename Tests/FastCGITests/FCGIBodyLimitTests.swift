import FastCGI
import Foundation
import Testing

/// Refusing a body before reading it, and keeping the connection usable afterwards.
struct FCGIBodyLimitTests {
    @Test func declaredLengthOverTheLimitIsRefusedWhileStdinIsStillComing() throws {
        let responder = TestResponder()
        try Fixture.withConnection(responder) { (client: FCGIClient) throws in
            // Only the first bit of a 1 MB body is sent before the answer is expected.
            try client.send(FCGIClient.requestRecords(id: 1, params: Fixture.params("/limited", method: "POST", body: 1_000_000),
                                                      stdin: [UInt8](repeating: 1, count: 1_000), terminateStdin: false))
            let r = try client.readResponse(id: 1)
            #expect(r.end == FCGIEndRequest(appStatus: 0, protocolStatus: .requestComplete))
            #expect(r.http?.status == 413)
            // The rest of the body still arrives and is dropped, then the connection serves again.
            for _ in 0..<16 {
                try client.send(FCGIClient.requestRecords(id: 1, params: [], stdin: [UInt8](repeating: 2, count: 62_000), terminateStdin: false)
                    .filter { $0.type == .stdin })
            }
            try client.send([FCGIRecord(type: .stdin, requestId: 1)])
            let next = try client.request(id: 2, params: Fixture.params("/echo", method: "POST", body: 2), stdin: [9, 9])
            #expect(next.http?.status == 200)
            #expect(next.http?.body == [9, 9])
        }
        #expect(responder.counters.responded.load(ordering: .relaxed) == 1)
    }

    @Test func bodyOverTheLimitWithoutADeclaredLengthIsRefusedOnceItPassesTheLimit() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            try client.send(FCGIClient.requestRecords(id: 1, params: Fixture.params("/limited", method: "POST"),
                                                      stdin: [UInt8](repeating: 1, count: 30), stdinChunk: 4, terminateStdin: false))
            #expect(try client.readResponse(id: 1).http?.status == 413)
            try client.send([FCGIRecord(type: .stdin, requestId: 1, content: [1, 2, 3]), FCGIRecord(type: .stdin, requestId: 1)])
            #expect(try client.request(id: 3, params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    @Test func bodyLongerThanItsContentLengthIsRefused() throws {
        var options = Fixture.options()
        options.contentLengthSlackBytes = 0
        try Fixture.withConnection(options: options) { (client: FCGIClient) throws in
            try client.send(FCGIClient.requestRecords(id: 1, params: Fixture.params("/echo", method: "POST", body: 4),
                                                      stdin: [1, 2, 3, 4, 5, 6], stdinChunk: 3))
            #expect(try client.readResponse(id: 1).http?.status == 413)
            #expect(try client.request(id: 2, params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    @Test func admissionCanRefuseBeforeAnyBody() throws {
        let responder = TestResponder()
        try Fixture.withConnection(responder) { (client: FCGIClient) throws in
            try client.send(FCGIClient.requestRecords(id: 1, params: Fixture.params("/reject", method: "POST", body: 5),
                                                      stdin: [], terminateStdin: false))
            let r = try client.readResponse(id: 1)
            #expect(r.http?.status == 403)
            #expect(r.http?.body == Array("no\n".utf8))
            try client.send([FCGIRecord(type: .stdin, requestId: 1, content: [1, 2, 3, 4, 5]), FCGIRecord(type: .stdin, requestId: 1)])
            #expect(try client.request(id: 2, params: Fixture.params("/echo")).http?.status == 200)
        }
        #expect(responder.counters.ended.load(ordering: .relaxed) == 2)
    }

    @Test func refusalWithoutKeepConnectionCloses() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            try client.send(FCGIClient.requestRecords(id: 1, params: Fixture.params("/limited", method: "POST", body: 50_000),
                                                      stdin: [1], keepConnection: false, terminateStdin: false))
            #expect(try client.readResponse(id: 1).http?.status == 413)
            #expect(try client.readRecord() == nil)
        }
    }

    @Test func invalidContentLengthIsRefused() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            let r = try client.request(params: [("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/echo"), ("CONTENT_LENGTH", "12x")])
            #expect(r.http?.status == 400)
            #expect(try client.request(id: 2, params: Fixture.params("/echo")).http?.status == 200)
        }
    }
}
