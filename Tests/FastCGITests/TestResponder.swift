import FastCGI
import Foundation
import Synchronization
import Testing

/// Counts lifecycle calls across threads.
final class Counters: Sendable {
    let began = Atomic<Int>(0)
    let ended = Atomic<Int>(0)
    let responded = Atomic<Int>(0)
    /// The size of each `respond(toAll:)` call, in order.
    let groups = Mutex<[Int]>([])
}

/// A responder with a few fixed routes, for driving connections:
/// - `/echo`: 200 with the body echoed and the method and query in headers;
/// - `/big?n=N`: 200 with N bytes;
/// - `/limited`: accepts at most 10 bytes of body;
/// - `/reject`: refused at admission with 403;
/// - `/share`: as `/echo`, and may share work with requests answered alongside it;
/// - `/slow?ms=N`: as `/echo`, after N milliseconds.
struct TestResponder: FCGIResponder, Sendable {
    let counters = Counters()

    func admit(_ params: FCGIParams) -> FCGIAdmission {
        switch params["DOCUMENT_URI"] {
        case "/limited": return .accept(maxBodyBytes: 10)
        case "/reject": return .reject(FCGIResponse(status: 403, headers: [("Content-Type", "text/plain")], body: Array("no\n".utf8)))
        default: return .accept(maxBodyBytes: 4 << 20)
        }
    }

    func respond(to request: FCGIRequest) -> FCGIResponse {
        counters.responded.add(1, ordering: .relaxed)
        if request.params["DOCUMENT_URI"] == "/slow" {
            usleep(UInt32(Int(request.params["QUERY_STRING"]?.dropFirst(3) ?? "") ?? 0) * 1000)
        }
        if request.params["DOCUMENT_URI"] == "/big" {
            let n = Int(request.params["QUERY_STRING"]?.dropFirst(2) ?? "") ?? 0
            return FCGIResponse(status: 200, headers: [("Content-Type", "application/octet-stream")],
                                body: (0..<n).map { UInt8(truncatingIfNeeded: $0 % 251) }, stderr: Array("big\n".utf8))
        }
        return FCGIResponse(status: 200, headers: [("Content-Type", "text/plain"), ("X-Method", request.params.method),
                                                   ("X-Params", "\(request.params.values.count)")], body: request.body)
    }

    func respond(toAll requests: [FCGIRequest]) -> [FCGIResponse] {
        counters.groups.withLock { $0.append(requests.count) }
        return requests.map(respond(to:))
    }

    func canShare(_ request: FCGIRequest) -> Bool { request.params["DOCUMENT_URI"] == "/share" }

    func requestDidBegin() { counters.began.add(1, ordering: .relaxed) }
    func requestDidEnd(_ request: FCGIEndedRequest) { counters.ended.add(1, ordering: .relaxed) }
}

enum Fixture {
    static func options() -> FCGIConnectionOptions {
        var o = FCGIConnectionOptions()
        o.readTimeout = 10
        o.writeTimeout = 10
        o.advertisedMaxConnections = 4
        o.advertisedMaxRequests = 4
        return o
    }

    static func params(_ path: String, method: String = "GET", query: String = "", body: Int? = nil, extra: [(String, String)] = []) -> [(String, String)] {
        var p = [("REQUEST_METHOD", method), ("DOCUMENT_URI", path), ("QUERY_STRING", query), ("SERVER_PROTOCOL", "HTTP/1.1")]
        if let body { p.append(("CONTENT_LENGTH", "\(body)")) }
        return p + extra
    }

    /// Serves one connection of a socket pair on a thread; `body` drives the client end. The
    /// server is joined before returning, so nothing outlives the test.
    static func withConnection(_ responder: TestResponder = TestResponder(), options: FCGIConnectionOptions = options(),
                               defersAnswers: Bool = false, _ body: (FCGIClient) throws -> Void) throws {
        let (clientFD, serverFD) = try FCGISocket.pairDescriptors()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let connection = FCGIConnection(socket: FCGISocket(adopting: serverFD), responder: responder, options: options)
            connection.defersAnswers = defersAnswers
            connection.serve()
            done.signal()
        }
        thread.start()
        let client = FCGIClient(socket: FCGISocket(adopting: clientFD), timeout: 10)
        defer {
            client.socket.close()
            done.wait()
        }
        try body(client)
    }
}
