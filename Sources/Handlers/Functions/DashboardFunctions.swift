import Accounts
import FoundationEssentials
import JobQueue

/// `dashboard` (no key: the page holds no data): the operator's page. Its scripts read the admin
/// functions with the session cookie that `dashboard-login` sets. With a live session the page
/// carries the session's CSRF token, which its scripts send with every change.
struct DashboardFunction: ConveyorFunction {
    let name = "dashboard"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let token = try? DashboardSession.liveToken(in: invocation.request, context: context)
        return HTTPResponse(status: 200, headers: [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", DashboardPage.contentSecurityPolicy),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"),
        ], body: Data(DashboardPage.page(csrfToken: token.flatMap { $0 }.map(DashboardSession.csrfToken(for:))).utf8))
    }
}

/// `dashboard-login` (no key; the body carries it): `{"key": "<admin key>"}` answers 200
/// `{"csrfToken"}` with an HttpOnly, SameSite=Strict session cookie that stands for the key for
/// 12 hours. A wrong key is a 401; five wrong keys from one address in 15 minutes make the next
/// attempts a 429 until the oldest ages out. The key is never stored, in the cookie, a URL or a log.
struct DashboardLoginFunction: ConveyorFunction {
    let name = "dashboard-login"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let body = try AdminInput.object(invocation.request, allowed: ["key"])
        guard let key = body["key"]?.stringValue, !key.isEmpty else {
            throw APIError(.invalidInput, "key: is required, the admin key as a string", details: ["field": "key"])
        }
        guard let adminKey = context.configuration.adminKey else {
            throw APIError(.unavailable, "the dashboard needs CONVEYOR_ADMIN_KEY to be set")
        }
        let store = AdminSessionStore(connection: try context.database())
        let address = invocation.request.remoteAddress ?? "unknown"
        let recent = try store.recentFailures(address: address, windowSeconds: DashboardSession.failureWindowSeconds)
        if recent.count >= DashboardSession.failuresAllowed {
            context.logger.notice("dashboard login throttled", metadata: ["address": "\(address)"])
            throw APIError(.rateLimited, "too many refused logins from this address; try again later",
                           retryAfterSeconds: max(1, Int(recent.oldestLeavesIn.rounded(.up))))
        }
        guard APIKey.matches(key, expected: adminKey) else {
            try store.noteFailure(address: address)
            context.logger.notice("dashboard login refused", metadata: ["address": "\(address)"])
            throw APIError(.unauthorized, "invalid API key")
        }
        try store.clearFailures(address: address)
        let token = try store.create(adminKey: adminKey, lifetimeSeconds: DashboardSession.lifetimeSeconds)
        var response = HTTPResponse.json(200, raw: Data(JSONValue.object(["csrfToken": .string(DashboardSession.csrfToken(for: token))]).jsonText.utf8))
        response.headers += [("Set-Cookie", DashboardSession.cookie(token, secure: invocation.request.isSecure)), ("Cache-Control", "no-store")]
        return response
    }
}

/// `dashboard-logout` (no key): ends the session server-side, so a copy of the cookie dies with
/// it, and clears the cookie. Only the dashboard's own pages may ask.
struct DashboardLogoutFunction: ConveyorFunction {
    let name = "dashboard-logout"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        if let token = DashboardSession.token(in: invocation.request) {
            guard DashboardSession.isSameOrigin(invocation.request) || invocation.request.header("origin") == nil && invocation.request.header("sec-fetch-site") == nil else {
                throw APIError(.forbidden, "a dashboard session may only be ended from the dashboard's own pages", details: ["reason": "cross-origin"])
            }
            try AdminSessionStore(connection: context.database()).end(token: token)
        }
        return HTTPResponse(status: 204, headers: [("Set-Cookie", DashboardSession.cookie("", secure: invocation.request.isSecure, maxAge: 0))])
    }
}
