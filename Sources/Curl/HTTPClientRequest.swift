import FoundationEssentials

/// One HTTP request for `HTTPClient`.
public struct HTTPClientRequest: Sendable {
    /// The method token: GET, POST, PUT, PATCH, DELETE, HEAD, …
    public var method: String
    /// An http:// or https:// URL.
    public var url: String
    /// Extra header lines, sent in order. An empty value sends the header empty.
    public var headers: [(String, String)]
    /// The request body; sent whenever non-empty, and always (maybe empty) for POST/PUT/PATCH.
    public var body: Data
    /// Seconds allowed to establish the connection (TCP and TLS).
    public var connectTimeout: Double
    /// Seconds allowed for the whole transfer.
    public var timeout: Double
    /// A larger response body fails with `CurlError(.tooLarge)`.
    public var maxResponseBytes: Int
    /// Asked about once a second while the transfer runs (and more often while bytes move);
    /// true abandons it with a `CurlError(.other)`. For a caller that must stop waiting on a
    /// long answer, such as a long poll, when it is told to stop.
    public var abandonWhen: (@Sendable () -> Bool)?
    /// True keeps the first `maxResponseBytes` of a longer body and ends the transfer there,
    /// answering with `bodyTruncated` set, instead of failing with `.tooLarge`.
    public var truncatesBody = false
    /// Asked about every address the transfer would connect to, after libcurl resolved the
    /// host and before the socket opens; false refuses it (`.couldNotConnect`). The address
    /// checked is the one connected to, so a name that resolves differently later (DNS
    /// rebinding) cannot slip past.
    public var allowAddress: (@Sendable (IPAddress) -> Bool)?
    /// A PEM file of certificate authorities to trust instead of the system's (a private CA, a
    /// test's self-signed certificate). Verification itself is never turned off.
    public var caFile: String?

    /// Creates a request; defaults suit a JSON API call.
    public init(
        method: String = "GET", url: String, headers: [(String, String)] = [], body: Data = Data(),
        connectTimeout: Double = 5, timeout: Double = 30, maxResponseBytes: Int = 16 << 20,
        abandonWhen: (@Sendable () -> Bool)? = nil
    ) {
        self.abandonWhen = abandonWhen
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }

    /// Refuses what would corrupt the request (header injection, bad tokens) before libcurl runs.
    func validate() throws {
        guard HTTPToken.isValid(method) else {
            throw CurlError.invalidInput("the HTTP method is not a valid token")
        }
        guard !url.isEmpty, !url.utf8.contains(where: { $0 < 0x21 || $0 == 0x7F }) else {
            throw CurlError.invalidInput("the URL is empty or contains spaces or control characters")
        }
        for (name, value) in headers {
            guard HTTPToken.isValid(name) else {
                throw CurlError.invalidInput("header name \"\(name.prefix(64))\" is not a valid token")
            }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw CurlError.invalidInput("the value of header \(name) contains CR, LF or NUL")
            }
        }
        for (name, seconds) in [("connectTimeout", connectTimeout), ("timeout", timeout)] {
            guard seconds.isFinite, seconds > 0 else {
                throw CurlError.invalidInput("\(name) must be a positive number of seconds")
            }
        }
        guard maxResponseBytes > 0 else {
            throw CurlError.invalidInput("maxResponseBytes must be positive")
        }
    }

    /// Whether the body goes out: always for the methods that carry one, else when non-empty.
    var sendsBody: Bool {
        !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method.uppercased())
    }

    /// The CURLOPT_HTTPHEADER lines. libcurl's own defaults are switched off where they would
    /// surprise: `Expect: 100-continue` (a 1 s stall on servers that ignore it) and the form
    /// content type it would otherwise claim for every body.
    func headerLines() -> [String] {
        var lines: [String] = []
        lines.reserveCapacity(headers.count + 2)
        var namesExpect = false, namesContentType = false
        for (name, value) in headers {
            namesExpect = namesExpect || Self.same(name, "expect")
            namesContentType = namesContentType || Self.same(name, "content-type")
            // "Name:" would make libcurl drop the header; "Name;" is its syntax for an empty one.
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        if !namesExpect { lines.append("Expect:") }
        if sendsBody, !namesContentType { lines.append("Content-Type:") }
        return lines
    }

    /// ASCII case-insensitive equality with a lowercase `lower`, without allocating.
    static func same(_ name: String, _ lower: StaticString) -> Bool {
        guard name.utf8.count == lower.utf8CodeUnitCount else { return false }
        let expected = UnsafeBufferPointer(start: lower.utf8Start, count: lower.utf8CodeUnitCount)
        for (index, byte) in name.utf8.enumerated() {
            let folded: UInt8 = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
            if folded != expected[index] { return false }
        }
        return true
    }

    /// User name and password embedded in the URL, to keep them out of error messages.
    var urlSecrets: [String] {
        guard let schemeEnd = url.firstRange(of: "://") else { return [] }
        let rest = url[schemeEnd.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard let at = authority.lastIndex(of: "@") else { return [] }
        let userinfo = authority[..<at]
        let parts = userinfo.split(separator: ":", maxSplits: 1).map(String.init)
        return parts + parts.compactMap { $0.removingPercentEscapes() }
    }
}

/// RFC 9110 tokens (method and header names).
enum HTTPToken {
    static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}
