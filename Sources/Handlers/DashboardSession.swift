import Digest
import Accounts
import FoundationEssentials

/// The dashboard's login session: a cookie that stands for the admin key without holding it.
///
/// The token is `v1.<expiry>.<nonce>.<mac>`, where the mac is HMAC-SHA256 of the first three
/// parts under the admin key. Nothing is stored server-side: any worker can check a token,
/// and changing the admin key ends every session. Macs are compared in constant time.
enum DashboardSession {
    static let cookieName = "conveyor_session"
    /// Twelve hours: a working day at the dashboard, then log in again.
    static let lifetimeSeconds = 43_200

    /// A new token for the admin key, valid until `now + lifetimeSeconds`.
    static func issue(adminKey: String, now: Date) -> String {
        var rng = SystemRandomNumberGenerator()
        let nonce = SHA256.hex((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
        let body = "v1.\(Int64(now.timeIntervalSince1970) + Int64(lifetimeSeconds)).\(nonce)"
        return body + "." + SHA256.hex(HMAC.sha256(key: Array(adminKey.utf8), message: Array(body.utf8)))
    }

    /// True when `token` was issued under `adminKey` and has not expired.
    static func isValid(_ token: String, adminKey: String, now: Date) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let expiry = Int64(parts[1]), parts[2].utf8.count == 32, parts[3].utf8.count == 64 else { return false }
        let body = "\(parts[0]).\(parts[1]).\(parts[2])"
        let expected = SHA256.hex(HMAC.sha256(key: Array(adminKey.utf8), message: Array(body.utf8)))
        let macMatches = ConstantTime.equals(Array(expected.utf8), Array(parts[3].utf8))
        return macMatches && Double(expiry) > now.timeIntervalSince1970
    }

    /// The session token in a request's Cookie header, if any.
    static func token(in request: HTTPRequest) -> String? {
        guard let header = request.header("cookie") else { return nil }
        for pair in header.split(separator: ";") {
            let trimmed = Authenticator.trimmed(String(pair))
            if trimmed.hasPrefix(cookieName + "=") { return String(trimmed.dropFirst(cookieName.count + 1)) }
        }
        return nil
    }

    /// The Set-Cookie value for a token: HttpOnly so page scripts never see it, SameSite=Strict
    /// so no other site's page can make the browser send it; Secure when served over HTTPS.
    static func cookie(_ token: String, secure: Bool, maxAge: Int = lifetimeSeconds) -> String {
        "\(cookieName)=\(token); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}
