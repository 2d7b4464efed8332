import Digest
import FoundationEssentials

/// A signing secret in the Standard Webhooks form: `whsec_` and the base64 of the key bytes.
///
/// Its text never appears in a description, an error or a log line.
public struct WebhookSecret: Sendable, CustomStringConvertible {
    /// The prefix every secret carries, so a leaked one is recognisable.
    public static let prefix = "whsec_"
    /// The MAC with the key already absorbed, copied for each signature.
    let mac: HMAC

    /// Reads `text`; the error says what is wrong without repeating the text.
    public init(_ text: String) throws {
        guard text.hasPrefix(Self.prefix) else {
            throw WebhookSecretError("a signing secret must start with \(Self.prefix)")
        }
        var encoded = String(text.dropFirst(Self.prefix.count))
        // Some providers print secrets without base64's padding; the reference libraries accept that.
        encoded += String(repeating: "=", count: (4 - encoded.utf8.count % 4) % 4)
        guard let key = Data(base64Encoded: encoded), key.count >= 16, key.count <= 256 else {
            throw WebhookSecretError("a signing secret must be \(Self.prefix) and the base64 of 16 to 256 bytes")
        }
        self.mac = HMAC(key: Array(key))
    }

    /// A new random secret (32 bytes), as its text.
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        return prefix + Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &rng) }).base64EncodedString()
    }

    public var description: String { "whsec_…" }
}

/// The secrets a target signs with: one, or during a rotation the new and the old, each giving
/// a signature of its own in the same header, so the receiver accepts whichever it knows.
public struct WebhookSigner: Sendable {
    public let secrets: [WebhookSecret]
    /// The most secrets a rotation may hold at once.
    public static let maxSecrets = 3

    public init(secrets: [WebhookSecret]) throws {
        guard (1...Self.maxSecrets).contains(secrets.count) else {
            throw WebhookSecretError("give 1 to \(Self.maxSecrets) signing secrets")
        }
        self.secrets = secrets
    }

    /// Secrets as kept in the environment or a file: separated by spaces, commas or line breaks,
    /// the one to sign with first.
    public init(parsing text: String) throws {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\r" || $0 == "\t" })
        try self.init(secrets: words.map { try WebhookSecret(String($0)) })
    }

    /// The `webhook-signature` header value for one delivery: `v1,<base64>` per secret, separated by
    /// spaces, over `id.timestamp.body` as the specification says.
    public func signature(id: String, timestamp: Int, body: Data) -> String {
        let prefix = "\(id).\(timestamp).".utf8
        var header = ""
        for secret in secrets {
            var mac = secret.mac
            mac.update(prefix)
            mac.update(body)
            if !header.isEmpty { header += " " }
            header += "v1," + Data(mac.finalize()).base64EncodedString()
        }
        return header
    }
}

/// A secret that cannot be used; its message never contains the secret.
public struct WebhookSecretError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
