import Accounts
import Digest
import FoundationEssentials

/// The dashboard's login session, as the browser carries it.
///
/// The cookie holds a random token; `AdminSessionStore` keeps its digest server-side, so logout
/// and a new admin key end it on every worker. A request the browser makes with the cookie that
/// changes something must also come from this site (Origin, or Sec-Fetch-Site) and carry the
/// session's CSRF token, which the page gets from the login answer or the page itself: a page on
/// another port of the same host is same-site (SameSite=Strict sends the cookie) but is neither.
enum DashboardSession {
    static let cookieName = "conveyor_session"
    static let csrfHeader = "x-csrf-token"
    /// Twelve hours: a working day at the dashboard, then log in again.
    static let lifetimeSeconds = 43_200
    /// Refused logins per client address before the throttle answers 429, and the window.
    static let failuresAllowed = 5
    static let failureWindowSeconds = 900

    /// The CSRF token of a session: derived from its token, so it needs no storage and is
    /// worthless without the cookie it is bound to.
    static func csrfToken(for token: String) -> String {
        SHA256.hex(HMAC.sha256(key: Array(token.utf8), message: Array("conveyor-csrf-v1".utf8)))
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
    /// so no other site's page can make the browser send it; Secure when nginx says the request
    /// came over TLS (never a client's header).
    static func cookie(_ token: String, secure: Bool, maxAge: Int = lifetimeSeconds) -> String {
        "\(cookieName)=\(token); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// True when the browser says the request comes from a page of this site: its Origin names
    /// the host the request was sent to, or, without an Origin, Sec-Fetch-Site is same-origin.
    static func isSameOrigin(_ request: HTTPRequest) -> Bool {
        if let origin = request.header("origin") {
            guard let host = request.header("host"), let scheme = origin.firstRange(of: "://") else { return false }
            return origin[scheme.upperBound...].lowercased() == host.lowercased()
        }
        return request.header("sec-fetch-site")?.lowercased() == "same-origin"
    }

    /// The checks on a cookie-authenticated request that changes something.
    static func checkUnsafe(_ request: HTTPRequest, token: String) throws {
        guard isSameOrigin(request) else {
            throw APIError(.forbidden, "a dashboard session may only be used from the dashboard's own pages", details: ["reason": "cross-origin"])
        }
        guard let sent = request.header(csrfHeader), ConstantTime.equals(Array(sent.utf8), Array(csrfToken(for: token).utf8)) else {
            throw APIError(.forbidden, "the request lacks the session's CSRF token (\(csrfHeader))", details: ["reason": "csrf"])
        }
    }

    /// The session a request's cookie names, when it is live under the current admin key.
    static func liveToken(in request: HTTPRequest, context: FunctionContext) throws -> String? {
        guard let adminKey = context.configuration.adminKey, let token = token(in: request) else { return nil }
        return try AdminSessionStore(connection: context.database()).isValid(token: token, adminKey: adminKey) ? token : nil
    }
}
