import FoundationEssentials
import JobQueue

/// A request as a host hands it to the router: the same shape from nginx, CGI or the CLI.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string.
    public var path: String
    public var query: [String: String]
    /// Header names in lowercase.
    public var headers: [String: String]
    public var body: Data
    /// When the front door handed the request on (nginx's `$msec` as REQUEST_START): the time
    /// it waited for a worker comes off the function's time bound. Nil when unknown.
    public var receivedAt: Date?
    /// The front door's id of the request (nginx's `$request_id` as REQUEST_ID), for logs and
    /// the error envelope. Nil when none came, or when it was not a plain token.
    public var requestId: String?
    /// True when the request reached the front door over TLS (nginx's `$https` as HTTPS). Never
    /// taken from a client's header.
    public var isSecure = false
    /// The client's address as the front door saw it (REMOTE_ADDR), for the login throttle.
    public var remoteAddress: String?

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: Data = Data()) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { _, last in last })
        self.body = body
    }

    /// A header by case-insensitive name.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// What a function answers.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response from raw JSON bytes the caller vouches for.
    public static func json(_ status: Int, raw: Data) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: raw)
    }

    /// A JSON response from an Encodable value.
    public static func json<T: Encodable>(_ status: Int, _ value: T) throws -> HTTPResponse {
        json(status, raw: try JSONEncoder.conveyor.encode(value))
    }

    /// The error envelope with the error's status.
    /// The error envelope answering `request`: it names the request's id when it has one.
    public static func error(_ error: APIError, for request: HTTPRequest) -> HTTPResponse {
        var e = error
        e.requestId = request.requestId
        return .error(e)
    }

    public static func error(_ error: APIError) -> HTTPResponse {
        var r = json(error.status, raw: Data(error.envelopeJSON.utf8))
        r.headers += error.headers
        return r
    }

    /// The response with `Location` naming what it created (201) or where to follow it (202),
    /// as a path on this site. Path segments are percent-encoded.
    public func located(_ segments: String...) -> HTTPResponse {
        var r = self
        r.headers.append(("Location", "/" + segments.map(PercentDecoding.encodeSegment).joined(separator: "/")))
        return r
    }

    /// The value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
}
