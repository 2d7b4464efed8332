import Accounts
import FoundationEssentials
import JobQueue

/// `dashboard` (no key: the page holds no data): the operator's page. Its scripts read the admin
/// functions with the session cookie that `dashboard-login` sets.
struct DashboardFunction: ConveyorFunction {
    let name = "dashboard"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        HTTPResponse(status: 200, headers: [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", DashboardPage.contentSecurityPolicy),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cache-Control", "no-store"),
        ], body: Data(DashboardPage.html.utf8))
    }
}

/// `dashboard-login` (no key; the body carries it): `{"key": "<admin key>"}` answers 204 with an
/// HttpOnly, SameSite=Strict session cookie that stands for the key for 12 hours. A wrong key is
/// a 401. The key itself is never stored in the cookie, a URL or a log.
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
        guard APIKey.matches(key, expected: adminKey) else {
            context.logger.notice("dashboard login refused")
            throw APIError(.unauthorized, "invalid API key")
        }
        let token = DashboardSession.issue(adminKey: adminKey, now: context.now())
        return HTTPResponse(status: 204, headers: [("Set-Cookie", DashboardSession.cookie(token, secure: Self.isHTTPS(invocation.request))),
                                                   ("Cache-Control", "no-store")])
    }

    /// Behind a TLS terminator the cookie is marked Secure.
    static func isHTTPS(_ request: HTTPRequest) -> Bool {
        request.header("x-forwarded-proto")?.lowercased() == "https"
    }
}

/// `dashboard-logout` (no key): clears the session cookie in this browser.
struct DashboardLogoutFunction: ConveyorFunction {
    let name = "dashboard-logout"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        HTTPResponse(status: 204, headers: [("Set-Cookie", DashboardSession.cookie("", secure: DashboardLoginFunction.isHTTPS(invocation.request), maxAge: 0))])
    }
}
