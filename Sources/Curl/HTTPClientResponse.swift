import FoundationEssentials

/// A response of any status: 4xx and 5xx are answers, not errors.
public struct HTTPClientResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The final response's header lines in order, names as the server spelled them.
    public var headers: [(String, String)]
    /// The body (decoded from chunked transfer encoding).
    public var body: Data
    /// True when the body was longer than the request's limit and only its start is here
    /// (requests with `truncatesBody`).
    public var bodyTruncated: Bool

    /// Creates a response; `HTTPClient` builds these, tests of other modules may too.
    public init(status: Int, headers: [(String, String)], body: Data, bodyTruncated: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bodyTruncated = bodyTruncated
    }

    /// The first header named `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.0.lowercased() == wanted }?.1
    }
}
