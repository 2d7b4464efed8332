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
        let transfer = HTTPTransfer(limit: request.maxResponseBytes, abandonWhen: request.abandonWhen)
        let headerList = try StringList(request.headerLines())
        try configure(for: request, transfer: transfer, headers: headerList)
        let code = withExtendedLifetime((transfer, headerList)) { easy.perform() }
        // The handle must not keep pointing at a list that dies with this call.
        try easy.set(CURLOPT_HTTPHEADER, nil)

        if transfer.exceededLimit || code == CURLE_FILESIZE_EXCEEDED {
            throw CurlError(
                .tooLarge, curlCode: Int32(bitPattern: code.rawValue),
                message: "the response body exceeds maxResponseBytes (\(request.maxResponseBytes))",
                responseCode: easy.responseCode)
        }
        guard code == CURLE_OK else {
            throw easy.error(for: code, secrets: request.urlSecrets)
        }
        return HTTPClientResponse(
            status: easy.responseCode ?? 0, headers: transfer.headers, body: transfer.body)
    }

    private func configure(
        for request: HTTPClientRequest, transfer: HTTPTransfer, headers: StringList
    ) throws {
        try easy.reset()
        try easy.set(CURLOPT_URL, request.url)
        try easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        // Ignore http_proxy & co. from the environment: an explicit, deterministic route.
        try easy.set(CURLOPT_PROXY, "")
        try easy.set(CURLOPT_NOPROXY, "*")
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout))
        try easy.set(CURLOPT_TIMEOUT_MS, milliseconds(request.timeout))
        // With a Content-Length libcurl refuses an oversized body before reading it.
        try easy.set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(request.maxResponseBytes))
        try easy.set(CURLOPT_USERAGENT, "conveyor")
        try easy.set(CURLOPT_HTTPHEADER, headers)

        let method = request.method.uppercased()
        if method == "HEAD" {
            try easy.set(CURLOPT_NOBODY, 1)
        } else if request.sendsBody {
            try easy.set(CURLOPT_POST, 1)
            try easy.setCopiedBody(request.body)
            if method != "POST" { try easy.set(CURLOPT_CUSTOMREQUEST, request.method) }
        } else if method == "GET" {
            try easy.set(CURLOPT_HTTPGET, 1)
        } else {
            try easy.set(CURLOPT_CUSTOMREQUEST, request.method)
        }

        try easy.set(CURLOPT_WRITEDATA, context: transfer)
        try easy.set(CURLOPT_HEADERDATA, context: transfer)
        let writeCode = ccurl_setopt_write_function(easy.raw) { data, size, count, context in
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        let headerCode = ccurl_setopt_header_function(easy.raw) { data, size, count, context in
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        var codes = [writeCode, headerCode]
        if request.abandonWhen != nil {
            try easy.set(CURLOPT_XFERINFODATA, context: transfer)
            try easy.set(CURLOPT_NOPROGRESS, 0)
            codes.append(ccurl_setopt_xferinfo_function(easy.raw) { context, _, _, _, _ in
                Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue().shouldAbandon()
            })
        }
        for code in codes where code != CURLE_OK {
            throw easy.error(for: code, secrets: [])
        }
    }
}

/// Seconds as libcurl's *_MS options want them; at least 1, since 0 means "no limit".
func milliseconds(_ seconds: Double) -> Int {
    max(1, Int((seconds * 1000).rounded(.up)))
}
