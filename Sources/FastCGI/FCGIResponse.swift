/// A responder's answer, sent as a CGI response: a `Status:` line, headers, a blank line, the body.
public struct FCGIResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Text for the web server's error log (FastCGI `STDERR`); never shown to the client.
    public var stderr: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], stderr: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
        self.stderr = stderr
    }

    /// The CGI header block: `Status: 200 OK`, the headers (CR and LF removed so a value cannot
    /// inject a header), `Content-Length` unless given, and the blank line.
    public func cgiHead() -> [UInt8] {
        var text = "Status: \(status) \(Self.reasonPhrase(status))\r\n"
        var hasLength = false
        for (name, value) in headers {
            let n = Self.clean(name), v = Self.clean(value)
            guard !n.isEmpty, n.lowercased() != "status" else { continue }
            if n.lowercased() == "content-length" { hasLength = true }
            text += "\(n): \(v)\r\n"
        }
        if !hasLength { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// The whole CGI response; `includeBody` is false for HEAD, which keeps the length but no body.
    public func cgiBytes(includeBody: Bool = true) -> [UInt8] {
        var out = cgiHead()
        if includeBody { out.append(contentsOf: body) }
        return out
    }

    static func clean(_ s: String) -> String {
        s.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) ? String(s.filter { $0 != "\r" && $0 != "\n" && $0 != "\r\n" }) : s
    }

    /// The standard reason phrase of a status code.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Payload Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default:
            switch status / 100 {
            case 1: return "Informational"
            case 2: return "Success"
            case 3: return "Redirection"
            case 4: return "Client Error"
            default: return "Server Error"
            }
        }
    }
}
