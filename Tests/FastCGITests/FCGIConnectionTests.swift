import FastCGI
import Foundation
import Testing

/// A real connection over a socket pair, driven record by record as a web server would.
struct FCGIConnectionTests {
    @Test func paramsAndStdinSplitIntoTinyRecords() throws {
        let body = (0..<5_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let extra = (0..<40).map { ("HTTP_X_HEADER_\($0)", String(repeating: "v", count: $0 * 10)) }
        try Fixture.withConnection { (client: FCGIClient) throws in
            let r = try client.request(id: 1, params: Fixture.params("/echo", method: "POST", body: body.count, extra: extra),
                                       stdin: body, paramsChunk: 1, stdinChunk: 3)
            #expect(r.end == FCGIEndRequest(appStatus: 0, protocolStatus: .requestComplete))
            let http = try #require(r.http)
            #expect(http.status == 200)
            #expect(http.body == body)
            #expect(http.header("X-Params") == "\(4 + 1 + extra.count)")
            #expect(http.header("Content-Length") == "\(body.count)")
        }
    }

    @Test func keepConnectionServesSequentialRequests() throws {
        let responder = TestResponder()
        try Fixture.withConnection(responder) { (client: FCGIClient) throws in
            for i in 1...5 {
                let text = Array("request \(i)".utf8)
                let r = try client.request(id: UInt16(i), params: Fixture.params("/echo", method: "PUT", body: text.count), stdin: text)
                #expect(r.http?.body == text)
                #expect(r.http?.header("X-Method") == "PUT")
            }
        }
        #expect(responder.counters.responded.load(ordering: .relaxed) == 5)
        #expect(responder.counters.ended.load(ordering: .relaxed) == 5)
    }

    @Test func withoutKeepConnectionTheResponderCloses() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            let r = try client.request(params: Fixture.params("/echo"), keepConnection: false)
            #expect(r.http?.status == 200)
            #expect(try client.readRecord() == nil)
        }
    }

    @Test func getValuesAnswersOnlyTheNamesAsked() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            #expect(try client.getValues(["FCGI_MPXS_CONNS"]) == ["FCGI_MPXS_CONNS": "0"])
            #expect(try client.getValues(["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS", "NOT_A_VARIABLE"])
                == ["FCGI_MAX_CONNS": "4", "FCGI_MAX_REQS": "4", "FCGI_MPXS_CONNS": "0"])
            // The connection is still good for a request afterwards.
            #expect(try client.request(params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    @Test func unknownManagementTypeGetsUnknownType() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            try client.send([FCGIRecord(type: FCGIRecordType(rawValue: 99), requestId: 0, content: [1, 2, 3])])
            let reply = try #require(try client.readRecord())
            #expect(reply.type == .unknownType && reply.requestId == 0)
            #expect(reply.content == [99, 0, 0, 0, 0, 0, 0, 0])
            #expect(try client.request(params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    @Test func abortEndsTheRequestWithNonZeroAppStatus() throws {
        let responder = TestResponder()
        try Fixture.withConnection(responder) { (client: FCGIClient) throws in
            try client.send(FCGIClient.requestRecords(id: 7, params: Fixture.params("/echo", method: "POST", body: 100),
                                                      stdin: [1, 2, 3], terminateStdin: false))
            try client.send([FCGIRecord(type: .abortRequest, requestId: 7)])
            let r = try client.readResponse(id: 7)
            #expect(r.end.protocolStatus == .requestComplete)
            #expect(r.end.appStatus != 0)
            #expect(r.stdout.isEmpty)
            // Kept connection: the next request works.
            #expect(try client.request(id: 8, params: Fixture.params("/echo")).http?.status == 200)
        }
        #expect(responder.counters.responded.load(ordering: .relaxed) == 1)
        #expect(responder.counters.ended.load(ordering: .relaxed) == 2)
    }

    @Test func aSecondRequestIdIsRefusedWithCantMpxConn() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            try client.send([FCGIRecord.beginRequest(id: 1, keepConnection: true)])
            try client.send(FCGIClient.requestRecords(id: 2, params: Fixture.params("/echo")))
            let refused = try client.readResponse(id: 2)
            #expect(refused.end.protocolStatus == .cantMultiplexConnection)
            // Request 1 carries on undisturbed; the stray records of 2 were ignored.
            let body = Array("one".utf8)
            try client.send(Array(FCGIClient.requestRecords(id: 1, params: Fixture.params("/echo", method: "POST", body: 3), stdin: body).dropFirst()))
            let r = try client.readResponse(id: 1)
            #expect(r.end.protocolStatus == .requestComplete)
            #expect(r.http?.body == body)
        }
    }

    @Test func otherRolesGetUnknownRole() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            try client.send([FCGIRecord.beginRequest(id: 3, role: .authorizer, keepConnection: true)])
            #expect(try client.readResponse(id: 3).end.protocolStatus == .unknownRole)
            #expect(try client.request(id: 4, params: Fixture.params("/echo")).http?.status == 200)
        }
    }

    static let malformed: [(String, [UInt8])] = {
        var cases: [(String, [UInt8])] = []
        cases.append(("bad version", [2, 1, 0, 1, 0, 8, 0, 0] + [UInt8](repeating: 0, count: 8)))
        cases.append(("garbage", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        cases.append(("short BEGIN_REQUEST", FCGIRecord(type: .beginRequest, requestId: 1, content: [0, 1, 0]).encoded()))
        cases.append(("STDOUT from the web server", FCGIRecord(type: .stdout, requestId: 1, content: [1]).encoded()))
        cases.append(("unknown application type", FCGIRecord(type: FCGIRecordType(rawValue: 77), requestId: 1).encoded()))
        var badPairs = FCGIRecord.beginRequest(id: 1, keepConnection: true).encoded()
        badPairs += FCGIRecord(type: .params, requestId: 1, content: [0x80, 0, 0, 200, 1]).encoded()
        badPairs += FCGIRecord(type: .params, requestId: 1).encoded()
        cases.append(("bad pairs", badPairs))
        return cases
    }()

    @Test(arguments: malformed)
    func malformedInputClosesTheConnection(_ name: String, _ bytes: [UInt8]) throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            try client.send(raw: bytes)
            #expect(throws: Never.self) {
                // Nothing comes back but the close.
                while let record = try client.readRecord() { Issue.record("unexpected \(record.type) after \(name)") }
            }
        }
    }

    @Test func paramsOverTheCapCloseTheConnection() throws {
        var options = Fixture.options()
        options.maxParamsBytes = 100_000
        try Fixture.withConnection(options: options) { (client: FCGIClient) throws in
            let huge = [("HTTP_X_BIG", String(repeating: "a", count: 200_000))]
            try client.send(FCGIClient.requestRecords(id: 1, params: Fixture.params("/echo", extra: huge)))
            #expect(try client.readRecord() == nil)
        }
    }

    @Test func peerClosingMidRequestEndsIt() throws {
        let responder = TestResponder()
        try Fixture.withConnection(responder) { (client: FCGIClient) throws in
            try client.send(FCGIClient.requestRecords(id: 1, params: Fixture.params("/echo", method: "POST", body: 10),
                                                      stdin: [1, 2], terminateStdin: false))
            try client.send(raw: Array(FCGIRecord(type: .stdin, requestId: 1, content: [3, 4, 5]).encoded().prefix(9)))
        }
        #expect(responder.counters.began.load(ordering: .relaxed) == 1)
        #expect(responder.counters.ended.load(ordering: .relaxed) == 1)
        #expect(responder.counters.responded.load(ordering: .relaxed) == 0)
    }

    @Test(arguments: [70_000, (1 << 20) + 5])
    func largeOutputIsSplitIntoRecords(_ size: Int) throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            let r = try client.request(params: Fixture.params("/big", query: "n=\(size)"))
            let http = try #require(r.http)
            #expect(http.body.count == size)
            #expect(http.body == (0..<size).map { UInt8(truncatingIfNeeded: $0 % 251) })
            #expect(r.stdoutRecords == (r.stdout.count + 65_534) / 65_535)
            #expect(String(decoding: r.stderr, as: UTF8.self) == "big\n")
        }
    }

    @Test func headRequestsKeepTheLengthButNotTheBody() throws {
        try Fixture.withConnection { (client: FCGIClient) throws in
            let r = try client.request(params: Fixture.params("/big", method: "HEAD", query: "n=1000"))
            #expect(r.http?.header("Content-Length") == "1000")
            #expect(r.http?.body.isEmpty == true)
        }
    }
}
