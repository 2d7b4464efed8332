import Foundation
import Targets
import Testing

struct WebhookSecretTests {
    static let key32 = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()

    @Test func aGeneratedSecretParses() throws {
        let text = WebhookSecret.generate()
        #expect(text.hasPrefix("whsec_"))
        _ = try WebhookSecret(text)
        #expect(WebhookSecret.generate() != text)
    }

    @Test(arguments: [
        ("", "must start with whsec_"),
        ("sk_" + String(repeating: "A", count: 44), "must start with whsec_"),
        ("whsec_", "16 to 256 bytes"),
        ("whsec_c2hvcnQ=", "16 to 256 bytes"),
        ("whsec_!!!not-base64!!!", "16 to 256 bytes"),
    ])
    func badSecretsAreRefusedWithoutBeingRepeated(text: String, message: String) {
        do {
            _ = try WebhookSecret(text)
            Issue.record("accepted \(text)")
        } catch {
            let description = "\(error)"
            #expect(description.contains(message), "\(description)")
            if text.count > 6 { #expect(!description.contains(text.dropFirst(6))) }
        }
    }

    @Test func unpaddedBase64IsAccepted() throws {
        // 24 bytes encode to 32 characters with no padding; 25 bytes need "==", here left off.
        let unpadded = "whsec_" + Data(repeating: 1, count: 25).base64EncodedString().replacingOccurrences(of: "=", with: "")
        _ = try WebhookSecret(unpadded)
    }

    @Test func aSecretNeverPrintsItself() throws {
        let secret = try WebhookSecret(Self.key32)
        #expect("\(secret)" == "whsec_…")
        let signer = try WebhookSigner(parsing: Self.key32)
        #expect(!"\(signer)".contains(Self.key32.dropFirst(6)))
    }

    @Test func aRotationSignsWithEverySecretInOrder() throws {
        let new = WebhookSecret.generate(), old = WebhookSecret.generate()
        let both = try WebhookSigner(parsing: "\(new) \(old)")
        let newOnly = try WebhookSigner(parsing: new)
        let oldOnly = try WebhookSigner(parsing: "\n\(old),\n")
        let body = Data(#"{"a":1}"#.utf8)
        let signature = both.signature(id: "job_1", timestamp: 1_700_000_000, body: body)
        #expect(signature == newOnly.signature(id: "job_1", timestamp: 1_700_000_000, body: body) + " "
                + oldOnly.signature(id: "job_1", timestamp: 1_700_000_000, body: body))
        #expect(throws: WebhookSecretError.self) { try WebhookSigner(parsing: "  ") }
        #expect(throws: WebhookSecretError.self) {
            try WebhookSigner(parsing: (0..<4).map { _ in WebhookSecret.generate() }.joined(separator: " "))
        }
    }

    /// The specification's own example (standard-webhooks/spec): secret, id, timestamp and
    /// payload give this signature.
    @Test func matchesTheSpecificationsExample() throws {
        let signer = try WebhookSigner(parsing: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        let signature = signer.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
                                         body: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }
}
