/// HMAC (RFC 2104) over the project's SHA-256: dashboard sessions and signed webhook deliveries.
public enum HMAC {
    /// The 32-byte HMAC-SHA256 of `message` under `key`.
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        let blockSize = 64
        var k = key.count > blockSize ? SHA256.hash(key) : key
        k += Array(repeating: 0, count: blockSize - k.count)
        var inner = k.map { $0 ^ 0x36 }
        inner.append(contentsOf: message)
        var outer = k.map { $0 ^ 0x5c }
        outer.append(contentsOf: SHA256.hash(inner))
        return SHA256.hash(outer)
    }
}
