import Digest
import FoundationEssentials

/// API keys: how they are made, hashed and compared.
///
/// A key is shown once, at creation. Only its SHA-256 is stored, so a database leak does not leak
/// keys. Keys are compared by digest in constant time, so response timing says nothing about how
/// much of a guess was right.
public enum APIKey {
    /// Prefix of tenant keys, so a leaked key is recognisable in a secret scanner.
    public static let tenantPrefix = "cvk_"

    /// A new tenant key: the prefix and 32 random bytes as lowercase hex.
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        return tenantPrefix + SHA256.hex(bytes)
    }

    /// The digest stored for `key`.
    public static func digest(_ key: String) -> [UInt8] { SHA256.hash(key) }

    /// True when `presented` is `expected`; both are hashed first so lengths leak nothing either.
    public static func matches(_ presented: String, expected: String) -> Bool {
        ConstantTime.equals(digest(presented), digest(expected))
    }
}
