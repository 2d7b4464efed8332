import FoundationEssentials

extension HTTPClientResponse {
    /// Seconds the server asks a client to wait (its Retry-After header): delta-seconds, or an
    /// HTTP-date relative to `now`. Nil when absent or unreadable; never negative.
    public func retryAfterSeconds(now: Date = Date()) -> Double? {
        Self.retryAfterSeconds(header("Retry-After"), now: now)
    }

    static func retryAfterSeconds(_ header: String?, now: Date) -> Double? {
        guard let text = header?.trimmingWhitespace(), !text.isEmpty else { return nil }
        if let seconds = Double(text), seconds.isFinite { return max(0, seconds) }
        guard let date = HTTPDate.parse(text) else { return nil }
        return max(0, date.timeIntervalSince(now))
    }
}
