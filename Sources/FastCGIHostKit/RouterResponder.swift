import FastCGI
import FoundationEssentials
import Dispatch
import Handlers
import Logging

/// The glue between FastCGI (or CGI) and the functions: params become an `HTTPRequest` for the
/// router, the router's body limit is applied before any body is read, and the worker's
/// scoreboard slot follows each request.
final class RouterResponder: FCGIResponder {
    let router: Router
    let context: FunctionContext
    let board: Scoreboard?
    let slot: Int
    let slowSeconds: Double
    /// Requests begun and not yet ended: a worker reads the requests ready on all of its
    /// connections before answering them together, so several can be open at once.
    private var open = 0

    init(router: Router, context: FunctionContext, board: Scoreboard? = nil, slot: Int = 0, slowSeconds: Double = 5) {
        self.router = router
        self.context = context
        self.board = board
        self.slot = slot
        self.slowSeconds = slowSeconds
    }

    func requestDidBegin() {
        open += 1
        guard let board else { return }
        if open == 1 {
            board.set(slot, .requestStartMs, Scoreboard.nowMs())
            board.setText(slot, "")
            board.setState(slot, .active)
            board.noteActive()
        }
        // Counted on arrival, as PHP-FPM's "accepted conn": the status request counts itself.
        board.add(slot, .requests)
        board.add(slot, .requestsTotal)
    }

    func admit(_ params: FCGIParams) -> FCGIAdmission {
        let method = params.method, path = HTTPRequest.path(cgi: params)
        board?.setText(slot, Self.requestLine(params))
        guard let limit = router.bodyLimit(method: method, path: path) else {
            // No function here: the router's 404 or 405, without reading a body it would ignore.
            return .reject(FCGIResponse(router.handle(HTTPRequest(cgi: params, body: Data()), context: context)))
        }
        return .accept(maxBodyBytes: limit)
    }

    func respond(to request: FCGIRequest) -> FCGIResponse {
        FCGIResponse(router.handle(HTTPRequest(cgi: request.params, body: Data(request.body)), context: context))
    }

    func respond(toAll requests: [FCGIRequest]) -> [FCGIResponse] {
        if requests.count > 1, let board {
            // How often group commit has company: operators tune --group-wait-us by it.
            board.add(slot, .grouped, UInt64(requests.count))
            board.add(slot, .groupedTotal, UInt64(requests.count))
        }
        return router.handle(all: requests.map { HTTPRequest(cgi: $0.params, body: Data($0.body)) }, context: context).map(FCGIResponse.init)
    }

    func canShare(_ request: FCGIRequest) -> Bool {
        router.canShare(method: request.params.method, path: HTTPRequest.path(cgi: request.params), body: request.body)
    }

    /// The method and path only, never the query string: it is for operators' eyes, and short.
    static func requestLine(_ params: FCGIParams) -> String {
        "\(params.method.prefix(16)) \(HTTPRequest.path(cgi: params).prefix(160))"
    }

    func reject(_ rejection: FCGIRejection, params: FCGIParams) -> FCGIResponse {
        var name = "-"
        if case .function(let entry, _) = router.match(method: params.method, path: HTTPRequest.path(cgi: params)) { name = entry.name }
        let error: APIError
        switch rejection {
        case .bodyTooLarge(let limit):
            let size = params.contentLength.map { "is \($0) bytes" } ?? "is too large"
            error = APIError(.payloadTooLarge, "the body \(size); \(name) accepts at most \(limit)", details: ["limitBytes": .int(Int64(limit))])
        case .invalidContentLength:
            error = APIError(.invalidInput, "CONTENT_LENGTH is not a number", details: ["field": "content-length"])
        case .incompleteBody(let expected, let received):
            error = APIError(.invalidInput, "the body ended after \(received) of \(expected) bytes", details: ["field": "content-length"])
        }
        // Logged like the router's requests; this one never reached it.
        context.logger.debug("request", metadata: [
            "function": "\(name)", "method": "\(params.method.prefix(16))", "status": "\(error.status)", "ms": "0",
        ])
        return FCGIResponse(HTTPResponse.error(error))
    }

    func requestDidEnd(_ request: FCGIEndedRequest) {
        open = max(open - 1, 0)
        let ms = request.seconds * 1000
        let slow = request.seconds >= slowSeconds
        if slow {
            let line = request.params.map(Self.requestLine) ?? "-"
            context.logger.warning("slow request", metadata: ["request": "\(line)", "ms": "\(Int(ms))"])
        }
        guard let board else { return }
        if slow {
            board.add(slot, .slow)
            board.add(slot, .slowTotal)
        }
        board.set(slot, .lastRequestMs, UInt64(ms))
        board.set(slot, .lastRequestEndMs, Scoreboard.nowMs())
        if open == 0 { board.setState(slot, .idle) }
    }
}
