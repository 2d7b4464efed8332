import FastCGI
@testable import FastCGIHostKit
import Foundation
import Handlers
import Testing

/// CGI variables to `HTTPRequest`, and `HTTPResponse` back to a CGI response.
struct CGITranslationTests {
    @Test(arguments: [
        (["DOCUMENT_URI": "/v1/jobs/42", "SCRIPT_NAME": "/x", "PATH_INFO": "/y", "REQUEST_URI": "/z?a=1"], "/v1/jobs/42"),
        (["SCRIPT_NAME": "/v1", "PATH_INFO": "/jobs", "REQUEST_URI": "/z?a=1"], "/v1/jobs"),
        (["SCRIPT_NAME": "", "PATH_INFO": "/health", "REQUEST_URI": "/z"], "/health"),
        (["REQUEST_URI": "/v1/jobs?state=dead#frag"], "/v1/jobs"),
        (["DOCUMENT_URI": "", "REQUEST_URI": "/health"], "/health"),
        ([:], "/"),
    ])
    func pathPrecedence(_ params: [String: String], _ expected: String) {
        #expect(HTTPRequest.path(cgi: FCGIParams(params)) == expected)
    }

    @Test(arguments: [
        ("", [:]),
        ("state=dead&limit=10", ["state": "dead", "limit": "10"]),
        ("q=a+b%2Bc&empty=&flag", ["q": "a b+c", "empty": "", "flag": ""]),
        ("x=1&x=2", ["x": "2"]),
        ("k%20y=%E2%9C%93&=nameless&&", ["k y": "✓"]),
        ("bad=%ZZ", ["bad": "%ZZ"]),
    ])
    func queryDecoding(_ query: String, _ expected: [String: String]) {
        #expect(HTTPRequest.decodeQuery(query) == expected)
    }

    @Test func headersMethodAndBody() {
        let params = FCGIParams([
            "REQUEST_METHOD": "post", "DOCUMENT_URI": "/v1/jobs", "QUERY_STRING": "a=1",
            "HTTP_X_API_KEY": "cvk_abc", "HTTP_AUTHORIZATION": "Bearer t", "HTTP_ACCEPT_ENCODING": "gzip",
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2", "SERVER_NAME": "example.org",
        ])
        let request = HTTPRequest(cgi: params, body: Data("{}".utf8))
        #expect(request.method == "POST")
        #expect(request.path == "/v1/jobs")
        #expect(request.query == ["a": "1"])
        #expect(request.headers == ["x-api-key": "cvk_abc", "authorization": "Bearer t", "accept-encoding": "gzip",
                                    "content-type": "application/json", "content-length": "2"])
        #expect(request.body == Data("{}".utf8))
    }

    @Test func responsesBecomeCGI() throws {
        let response = HTTPResponse(status: 422, headers: [("Content-Type", "application/json"), ("Allow", "GET")], body: Data(#"{"e":1}"#.utf8))
        let bytes = FCGIResponse(response).cgiBytes()
        #expect(String(decoding: bytes, as: UTF8.self)
            == "Status: 422 Unprocessable Content\r\nContent-Type: application/json\r\nAllow: GET\r\nContent-Length: 7\r\n\r\n{\"e\":1}")
    }

    @Test(arguments: [(0, "exit 0", true), (2 << 8, "exit 2", false), (9, "signal 9", false), (15, "signal 15", false)])
    func exitStatuses(_ raw: Int32, _ text: String, _ clean: Bool) {
        #expect(ExitStatus(raw: raw).description == text)
        #expect(ExitStatus(raw: raw).isClean == clean)
    }

    @Test func scoreboardCountsAndReports() throws {
        let board = try Scoreboard.create(slots: 3)
        board.resetForNewWorker(1)
        board.set(1, .pid, 4242)
        board.setState(1, .active)
        board.noteActive()
        board.add(1, .requestsTotal, 7)
        board.add(1, .connectionsTotal, 3)
        board.add(1, .grouped, 4)
        board.add(1, .groupedTotal, 4)
        board.add(.respawns, 2)
        board.set(1, .requestStartMs, Scoreboard.nowMs())
        board.setText(1, "POST /v1/process-batch")
        board.resetForNewWorker(0)
        board.setState(0, .idle)
        let report = board.report(PoolIdentity(name: "p", listen: "unix:/x.sock", maxRequests: 5, slowSeconds: 2))
        #expect(report["pool"] == .string("p"))
        #expect(report["processManager"] == .string("static"))
        #expect(report["activeWorkers"] == .int(1))
        #expect(report["idleWorkers"] == .int(1))
        #expect(report["totalWorkers"] == .int(2))
        #expect(report["maxActiveWorkers"] == .int(1))
        #expect(report["acceptedRequests"] == .int(7))
        #expect(report["acceptedConnections"] == .int(3))
        #expect(report["groupedRequests"] == .int(4))
        #expect(report["respawns"] == .int(2))
        guard case .array(let workers)? = report["workers"] else { Issue.record("no workers"); return }
        #expect(workers.count == 2, "the empty slot is not a worker")
        #expect(workers[1]["pid"] == .int(4242))
        #expect(workers[1]["groupedRequests"] == .int(4))
        #expect(workers[1]["request"] == .string("POST /v1/process-batch"))
        #expect(workers[1]["state"] == .string("active"))
        // A second mapping of the same descriptor sees the same words.
        let other = try Scoreboard.attach(fd: dup(board.fd))
        #expect(other.get(1, .pid) == 4242)
        #expect(other.text(1) == "POST /v1/process-batch")
        // The next worker in the slot starts its own count; the pool's total keeps the old one.
        board.resetForNewWorker(1)
        let after = board.report(PoolIdentity(name: "p", listen: "unix:/x.sock", maxRequests: 5, slowSeconds: 2))
        #expect(after["groupedRequests"] == .int(4))
        guard case .array(let fresh)? = after["workers"] else { Issue.record("no workers"); return }
        #expect(fresh[1]["groupedRequests"] == .int(0))
    }
}
