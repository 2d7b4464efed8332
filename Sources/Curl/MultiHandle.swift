import CCurl

/// One libcurl multi handle, freed with the object. Used from the transfer loop's thread,
/// except `wakeup()`, which any thread may call.
final class MultiHandle: @unchecked Sendable {
    /// The CURLM*.
    let raw: UnsafeMutableRawPointer

    init() {
        precondition(ccurl_global_init_once() == CURLE_OK, "curl_global_init failed")
        guard let raw = curl_multi_init() else { preconditionFailure("curl_multi_init failed") }
        self.raw = raw
    }

    deinit {
        curl_multi_cleanup(raw)
    }

    func add(_ easy: EasyHandle) throws {
        let code = curl_multi_add_handle(raw, easy.raw)
        guard code == CURLM_OK else {
            throw CurlError(.other, curlCode: Int32(code.rawValue),
                            message: "curl_multi_add_handle failed: \(String(cString: curl_multi_strerror(code)))")
        }
    }

    func remove(_ easy: EasyHandle) {
        curl_multi_remove_handle(raw, easy.raw)
    }

    /// Moves every transfer along as far as it can go without waiting.
    func perform() {
        var running: Int32 = 0
        _ = curl_multi_perform(raw, &running)
    }

    /// The next finished transfer: its easy handle and how it ended.
    func nextDone() -> (UnsafeMutableRawPointer, CURLcode)? {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(raw, &queued) {
            var easy: UnsafeMutableRawPointer?
            var code = CURLE_OK
            if ccurl_multi_message_done(message, &easy, &code) != 0, let easy { return (easy, code) }
        }
        return nil
    }

    /// Waits for activity on any transfer, a timer of libcurl's, or `wakeup()`, at most `milliseconds`.
    func poll(milliseconds: Int32) {
        var ready: Int32 = 0
        _ = curl_multi_poll(raw, nil, 0, milliseconds, &ready)
    }

    /// Ends a `poll` early; safe from any thread.
    func wakeup() {
        _ = curl_multi_wakeup(raw)
    }
}
