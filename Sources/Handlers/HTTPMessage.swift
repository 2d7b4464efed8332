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
    public static func error(_ error: APIError) -> HTTPResponse {
        json(error.status, raw: Data(error.envelopeJSON.utf8))
    }

    /// The value of a header, by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
}
