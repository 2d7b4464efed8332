import CCurl
import FoundationEssentials

/// One reusable easy handle: connections are kept alive between calls. Not thread-safe; one per thread.
///
/// `send` blocks the calling thread for up to the request's timeout: call it from a dedicated
/// thread or process, never from the async cooperative pool. Redirects are not followed (a 3xx
/// is returned as is), and proxies from the environment are ignored.
public final class HTTPClient {
    private let easy: EasyHandle

    /// Creates the handle (initialising libcurl once per process).
    public init() throws {
        easy = try EasyHandle()
    }

    /// Sends one request and returns the response, whatever its status.
    ///
    /// Throws `CurlError` for transport failures (resolve, connect, TLS, timeout, a broken
    /// connection), `.tooLarge` past `maxResponseBytes`, and `.invalidInput` for a request
    /// that would be malformed on the wire.
    public func send(_ request: HTTPClientRequest) throws -> HTTPClientResponse {
        try request.validate()
        let transfer = HTTPTransfer(request: request)
        let headerList = try StringList(request.headerLines())
        try easy.reset()
        try easy.configure(for: request, transfer: transfer, headers: headerList)
        let code = withExtendedLifetime((transfer, headerList)) { easy.perform() }
        // The handle must not keep pointing at a list that dies with this call.
        try easy.set(CURLOPT_HTTPHEADER, nil)
        return try easy.response(after: code, transfer: transfer, request: request)
    }
}

/// Seconds as libcurl's *_MS options want them; at least 1, since 0 means "no limit".
func milliseconds(_ seconds: Double) -> Int {
    max(1, Int((seconds * 1000).rounded(.up)))
}
