import CCurl
import FoundationEssentials

/// One libcurl easy handle, freed with the object.
///
/// The handle keeps its connection cache (keep-alive), DNS cache and TLS sessions across
/// transfers; `reset()` clears only the options. Not thread-safe: one thread at a time.
final class EasyHandle {
    /// The CURL*.
    let raw: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: libcurl writes the detail of a failure here, so it must outlive
    /// every transfer on the handle.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    init() throws {
        let global = ccurl_global_init_once()
        guard global == CURLE_OK else {
            throw CurlError(libcurl: global, detail: "curl_global_init failed", responseCode: nil)
        }
        guard let raw = curl_easy_init() else {
            throw CurlError(.other, message: "curl_easy_init failed")
        }
        self.raw = raw
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
    }

    /// Clears every option left by the previous transfer, then sets the ones every transfer
    /// needs: the error buffer, and NOSIGNAL, since signals and threads don't mix (libcurl
    /// otherwise uses SIGALRM for resolver timeouts).
    func reset() throws {
        curl_easy_reset(raw)
        errorBuffer[0] = 0
        try check(ccurl_setopt_pointer(raw, CURLOPT_ERRORBUFFER, errorBuffer), CURLOPT_ERRORBUFFER)
        try set(CURLOPT_NOSIGNAL, 1)
    }

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(ccurl_setopt_long(raw, option, value), option)
    }

    func set(_ option: CURLoption, _ value: String) throws {
        guard !value.utf8.contains(0) else {
            throw CurlError.invalidInput("a text option contains a NUL byte")
        }
        try check(ccurl_setopt_string(raw, option, value), option)
    }

    func set(_ option: CURLoption, offset value: Int64) throws {
        try check(ccurl_setopt_off_t(raw, option, curl_off_t(value)), option)
    }

    func set(_ option: CURLoption, _ list: StringList?) throws {
        try check(ccurl_setopt_slist(raw, option, list?.head), option)
    }

    /// Points CURLOPT_`option` (WRITEDATA, READDATA, …) at `object` without retaining it: the
    /// caller keeps `object` alive across `perform()`.
    func set(_ option: CURLoption, context object: AnyObject) throws {
        try check(ccurl_setopt_pointer(raw, option, Unmanaged.passUnretained(object).toOpaque()), option)
    }

    /// Sends `body` as the request body. libcurl copies it, so no Swift pointer outlives the call.
    func setCopiedBody(_ body: Data) throws {
        let code = body.withUnsafeBytes { bytes in
            ccurl_setopt_copy_postfields(raw, bytes.baseAddress, curl_off_t(bytes.count))
        }
        try check(code, CURLOPT_COPYPOSTFIELDS)
    }

    /// Runs the transfer; blocks the calling thread until it ends.
    func perform() -> CURLcode {
        errorBuffer[0] = 0
        return curl_easy_perform(raw)
    }

    /// The error buffer's text for the last failure ("" when libcurl left none).
    var errorDetail: String { String(cString: errorBuffer) }

    /// CURLINFO_RESPONSE_CODE, or nil when the server never answered.
    var responseCode: Int? {
        var value = 0
        guard ccurl_getinfo_long(raw, CURLINFO_RESPONSE_CODE, &value) == CURLE_OK, value != 0 else {
            return nil
        }
        return value
    }

    /// The error for a failed `perform()`, with libcurl's words and the server's code.
    func error(for code: CURLcode, secrets: [String]) -> CurlError {
        CurlError(libcurl: code, detail: errorDetail, responseCode: responseCode, secrets: secrets)
    }

    private func check(_ code: CURLcode, _ option: CURLoption) throws {
        guard code == CURLE_OK else {
            throw CurlError(
                libcurl: code, detail: "setting option \(option.rawValue) failed", responseCode: nil)
        }
    }
}
