/// HMAC (RFC 2104) over the project's SHA-256: dashboard sessions and signed webhook deliveries.
public struct HMAC: Sendable {
    private var inner: SHA256
    private let outerKey: [UInt8]

    /// A MAC under `key`, to which the message is added piece by piece.
    public init(key: [UInt8]) {
        let blockSize = 64
        var k = key.count > blockSize ? SHA256.hash(key) : key
        k += Array(repeating: 0, count: blockSize - k.count)
        inner = SHA256()
        inner.update(k.map { $0 ^ 0x36 })
        outerKey = k.map { $0 ^ 0x5c }
    }

    /// Adds `bytes` to the message.
    public mutating func update<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        inner.update(bytes)
    }

    /// The 32-byte MAC of everything added.
    public mutating func finalize() -> [UInt8] {
        var outer = SHA256()
        outer.update(outerKey)
        outer.update(inner.finalize())
        return outer.finalize()
    }

    /// The 32-byte HMAC-SHA256 of `message` under `key`.
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var mac = HMAC(key: key)
        mac.update(message)
        return mac.finalize()
    }
}
