import Dispatch
import Glibc

/// CGI/1.1 mode: one request from the environment and standard input, one response on standard
/// output. This is how fcgiwrap (or any CGI server) runs the same binary.
public enum CGIGateway {
    /// True when the process was started as a CGI script (`GATEWAY_INTERFACE=CGI/1.x`).
    public static func isCGI(environment: [String: String]) -> Bool {
        environment["GATEWAY_INTERFACE"]?.uppercased().hasPrefix("CGI/") ?? false
    }

    /// The request variables of a CGI environment: the CGI meta-variables and `HTTP_*` headers,
    /// without the rest of the process environment (secrets such as DATABASE_URL stay out).
    public static func params(environment: [String: String]) -> FCGIParams {
        let names: Set<String> = ["AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "GATEWAY_INTERFACE", "PATH_INFO",
                                  "PATH_TRANSLATED", "QUERY_STRING", "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_IDENT",
                                  "REMOTE_USER", "REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT",
                                  "SERVER_PROTOCOL", "SERVER_SOFTWARE", "REQUEST_URI", "DOCUMENT_URI",
                                  "DOCUMENT_ROOT", "SCRIPT_FILENAME", "HTTPS", "REQUEST_SCHEME", "REMOTE_PORT"]
        return FCGIParams(environment.filter { names.contains($0.key) || $0.key.hasPrefix("HTTP_") })
    }

    /// Answers one request: admits it on its params, reads exactly CONTENT_LENGTH bytes from
    /// `input` (refusing early, without reading it, when that is over the limit), and writes the CGI
    /// response to `output`. Returns the HTTP status sent.
    @discardableResult
    public static func serve(environment: [String: String], input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO,
                             responder: any FCGIResponder, readTimeout: Double = 30) throws -> Int {
        let params = params(environment: environment)
        let began = DispatchTime.now().uptimeNanoseconds
        responder.requestDidBegin()
        defer { responder.requestDidEnd(FCGIEndedRequest(params: params, seconds: Double(DispatchTime.now().uptimeNanoseconds &- began) / 1e9)) }
        let response = try answer(params, input: input, responder: responder, readTimeout: readTimeout)
        try writeAll(response.cgiBytes(includeBody: params.method != "HEAD"), to: output)
        if !response.stderr.isEmpty { try? writeAll(response.stderr, to: STDERR_FILENO) }
        return response.status
    }

    static func answer(_ params: FCGIParams, input: Int32, responder: any FCGIResponder, readTimeout: Double) throws -> FCGIResponse {
        if params.contentLengthIsInvalid { return responder.reject(.invalidContentLength, params: params) }
        let limit: Int
        switch responder.admit(params) {
        case .reject(let response): return response
        case .accept(let maxBodyBytes): limit = maxBodyBytes
        }
        let expected = params.contentLength ?? 0
        guard expected <= limit else { return responder.reject(.bodyTooLarge(limit: limit), params: params) }
        var body: [UInt8] = []
        body.reserveCapacity(expected)
        while body.count < expected {
            let n = try FCGISocket.read(input, appendingTo: &body, maxCount: min(65_536, expected - body.count), timeout: readTimeout)
            if n == 0 { return responder.reject(.incompleteBody(expected: expected, received: body.count), params: params) }
        }
        return responder.respond(to: FCGIRequest(params: params, body: body))
    }

    /// Writes all of `bytes` to a descriptor (a pipe or file), retrying short writes.
    public static func writeAll(_ bytes: [UInt8], to fd: Int32) throws {
        var written = 0
        try bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FCGIError.system("write standard output")
                }
                written += n
            }
        }
    }
}
