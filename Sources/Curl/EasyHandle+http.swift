import CCurl
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request on an easy handle: the options it sets and the response it ends with.
/// Shared by `HTTPClient` (one blocking transfer) and `TransferLoop` (many at once).
extension EasyHandle {
    /// Sets every option of `request` on a freshly reset handle. `transfer` and `headers` must
    /// outlive the transfer.
    func configure(
        for request: HTTPClientRequest, transfer: HTTPTransfer, headers: StringList
    ) throws {
        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_PROTOCOLS_STR, "http,https")
        try set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        // Ignore http_proxy & co. from the environment: an explicit, deterministic route.
        try set(CURLOPT_PROXY, "")
        try set(CURLOPT_NOPROXY, "*")
        try set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout))
        try set(CURLOPT_TIMEOUT_MS, milliseconds(request.timeout))
        // With a Content-Length libcurl refuses an oversized body before reading it; a request
        // that keeps the start of a long body reads up to the limit instead.
        if !request.truncatesBody {
            try set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(request.maxResponseBytes))
        }
        try set(CURLOPT_USERAGENT, "conveyor")
        if let caFile = request.caFile { try set(CURLOPT_CAINFO, caFile) }
        try set(CURLOPT_HTTPHEADER, headers)

        let method = request.method.uppercased()
        if method == "HEAD" {
            try set(CURLOPT_NOBODY, 1)
        } else if request.sendsBody {
            try set(CURLOPT_POST, 1)
            try setCopiedBody(request.body)
            if method != "POST" { try set(CURLOPT_CUSTOMREQUEST, request.method) }
        } else if method == "GET" {
            try set(CURLOPT_HTTPGET, 1)
        } else {
            try set(CURLOPT_CUSTOMREQUEST, request.method)
        }

        try set(CURLOPT_WRITEDATA, context: transfer)
        try set(CURLOPT_HEADERDATA, context: transfer)
        let writeCode = ccurl_setopt_write_function(raw) { data, size, count, context in
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        let headerCode = ccurl_setopt_header_function(raw) { data, size, count, context in
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        var codes = [writeCode, headerCode]
        if request.abandonWhen != nil {
            try set(CURLOPT_XFERINFODATA, context: transfer)
            try set(CURLOPT_NOPROGRESS, 0)
            codes.append(ccurl_setopt_xferinfo_function(raw) { context, _, _, _, _ in
                Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue().shouldAbandon()
            })
        }
        if request.allowAddress != nil {
            try set(CURLOPT_OPENSOCKETDATA, context: transfer)
            codes.append(ccurl_setopt_opensocket_function(raw) { context, purpose, address in
                let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue()
                guard purpose == CURLSOCKTYPE_IPCXN, let address else { return CURL_SOCKET_BAD }
                let family = address.pointee.family
                let ip = withUnsafePointer(to: &address.pointee.addr) { IPAddress(socketAddress: $0, family: family) }
                guard transfer.allows(ip) else { return CURL_SOCKET_BAD }
                return socket(family, address.pointee.socktype, address.pointee.protocol)
            })
        }
        for code in codes where code != CURLE_OK {
            throw error(for: code, secrets: [])
        }
    }

    /// The response of a finished transfer, or the error it ended with.
    func response(after code: CURLcode, transfer: HTTPTransfer, request: HTTPClientRequest) throws -> HTTPClientResponse {
        if transfer.exceededLimit, request.truncatesBody, let status = responseCode {
            return HTTPClientResponse(status: status, headers: transfer.headers, body: transfer.body, bodyTruncated: true)
        }
        if transfer.exceededLimit || code == CURLE_FILESIZE_EXCEEDED {
            throw CurlError(
                .tooLarge, curlCode: Int32(bitPattern: code.rawValue),
                message: "the response body exceeds maxResponseBytes (\(request.maxResponseBytes))",
                responseCode: responseCode)
        }
        if code != CURLE_OK, !transfer.refusedAddresses.isEmpty {
            let list = transfer.refusedAddresses.map(\.description).joined(separator: ", ")
            throw CurlError(.addressNotAllowed, curlCode: Int32(bitPattern: code.rawValue),
                            message: "the host resolved to an address that is not allowed (\(list))")
        }
        guard code == CURLE_OK else {
            throw error(for: code, secrets: request.urlSecrets)
        }
        return HTTPClientResponse(status: responseCode ?? 0, headers: transfer.headers, body: transfer.body)
    }
}
