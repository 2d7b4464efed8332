/// The CGI/1.1 variables of one request, from FastCGI `PARAMS` or a CGI environment.
public struct FCGIParams: Sendable, Equatable {
    public var values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    public subscript(name: String) -> String? { values[name] }

    /// `REQUEST_METHOD`, uppercased; GET when absent.
    public var method: String { (values["REQUEST_METHOD"].flatMap { $0.isEmpty ? nil : $0 } ?? "GET").uppercased() }

    /// `CONTENT_LENGTH` as a number; nil when absent, empty or invalid.
    public var contentLength: Int? {
        guard let text = values["CONTENT_LENGTH"]?.trimmingSpaces, !text.isEmpty, text.allSatisfy(\.isASCIIDigit) else { return nil }
        return Int(text)
    }

    /// True when `CONTENT_LENGTH` is present but not a non-negative number.
    public var contentLengthIsInvalid: Bool {
        guard let text = values["CONTENT_LENGTH"]?.trimmingSpaces, !text.isEmpty else { return false }
        return contentLength == nil
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}

/// A complete request: its params and its body.
public struct FCGIRequest: Sendable {
    public var params: FCGIParams
    public var body: [UInt8]

    public init(params: FCGIParams, body: [UInt8]) {
        self.params = params
        self.body = body
    }
}

/// What a responder decides once the params are in, before any of the body is read.
public enum FCGIAdmission: Sendable {
    /// Read the body, up to this many bytes.
    case accept(maxBodyBytes: Int)
    /// Answer now; the body is never buffered.
    case reject(FCGIResponse)
}

/// Why a host turned a request away without asking the responder to answer it.
public enum FCGIRejection: Sendable, Equatable {
    /// The declared or received body is over the admitted limit.
    case bodyTooLarge(limit: Int)
    /// CONTENT_LENGTH is not a number.
    case invalidContentLength
    /// The body ended before CONTENT_LENGTH bytes arrived (CGI mode).
    case incompleteBody(expected: Int, received: Int)
}

/// An application answering FastCGI or CGI requests. One responder serves one connection at a
/// time, synchronously.
public protocol FCGIResponder {
    /// Sees the params before the body: accept with a body limit, or answer at once.
    func admit(_ params: FCGIParams) -> FCGIAdmission
    /// Answers a complete request.
    func respond(to request: FCGIRequest) -> FCGIResponse
    /// Answers complete requests that were waiting together (read from several connections),
    /// in order. The default answers each with `respond(to:)`; a responder that can share work
    /// between them (one database commit for several inserts) does it here.
    func respond(toAll requests: [FCGIRequest]) -> [FCGIResponse]
    func canShare(_ request: FCGIRequest) -> Bool
    /// The answer for a request the host refuses (e.g. 413); by default a plain-text response.
    func reject(_ rejection: FCGIRejection, params: FCGIParams) -> FCGIResponse
    /// A request began (`BEGIN_REQUEST` arrived).
    func requestDidBegin()
    /// The request ended: answered, refused, aborted or cut off by the peer.
    func requestDidEnd(_ request: FCGIEndedRequest)
}

/// What a host knows of a request when it ends.
public struct FCGIEndedRequest: Sendable {
    /// Its params; nil when it ended before they were complete.
    public var params: FCGIParams?
    /// From `BEGIN_REQUEST` (or the CGI start) to the end.
    public var seconds: Double

    public init(params: FCGIParams?, seconds: Double) {
        self.params = params
        self.seconds = seconds
    }
}

extension FCGIResponder {
    public func reject(_ rejection: FCGIRejection, params: FCGIParams) -> FCGIResponse {
        switch rejection {
        case .bodyTooLarge(let limit):
            return FCGIResponse(status: 413, headers: [("Content-Type", "text/plain")], body: Array("request body over \(limit) bytes\n".utf8))
        case .invalidContentLength:
            return FCGIResponse(status: 400, headers: [("Content-Type", "text/plain")], body: Array("invalid CONTENT_LENGTH\n".utf8))
        case .incompleteBody(let expected, let received):
            return FCGIResponse(status: 400, headers: [("Content-Type", "text/plain")], body: Array("body ended after \(received) of \(expected) bytes\n".utf8))
        }
    }

    public func respond(toAll requests: [FCGIRequest]) -> [FCGIResponse] { requests.map(respond(to:)) }
    public func canShare(_ request: FCGIRequest) -> Bool { false }
    public func requestDidBegin() {}
    public func requestDidEnd(_ request: FCGIEndedRequest) {}
}
