import Accounts
import Foundation
@testable import Handlers
import JobQueue
import Testing

/// The dashboard's login: the session cookie, what it opens and what it does not.
struct DashboardSessionTests {
    @Test func tokensExpireAndBindToTheKey() {
        let now = Date()
        let token = DashboardSession.issue(adminKey: "k1", now: now)
        #expect(DashboardSession.isValid(token, adminKey: "k1", now: now))
        #expect(!DashboardSession.isValid(token, adminKey: "k2", now: now), "a new admin key ends every session")
        #expect(!DashboardSession.isValid(token, adminKey: "k1", now: now.addingTimeInterval(Double(DashboardSession.lifetimeSeconds + 1))))
        var tampered = Array(token)
        tampered[4] = tampered[4] == "9" ? "8" : "9"  // a later expiry
        #expect(!DashboardSession.isValid(String(tampered), adminKey: "k1", now: now))
        #expect(!DashboardSession.isValid("v1.1.2.3", adminKey: "k1", now: now))
        #expect(!token.contains("k1"))
    }

    func login(_ h: Harness, key: String) -> Answer {
        h.call("POST", "/v1/dashboard/login", body: JSONValue.object(["key": .string(key)]).jsonText, key: .some(nil))
    }

    @Test func loginSetsAStrictHttpOnlyCookieThatOpensAdminFunctionsOnly() throws {
        let h = try Harness()
        #expect(login(h, key: "wrong").status == 401)
        #expect(login(h, key: h.key).status == 401, "a tenant key is no admin key")
        let answer = login(h, key: Harness.adminKey)
        #expect(answer.status == 204)
        let cookie = try #require(answer.response.header("set-cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
        #expect(!cookie.contains(Harness.adminKey))
        let token = String(cookie.split(separator: ";")[0])
        let session = ["cookie": "theme=dark; \(token)"]
        #expect(h.call("GET", "/v1/metrics/queues", key: .some(nil), headers: session).status == 200)
        #expect(h.call("POST", "/v1/maintenance/prune", body: "{}", key: .some(nil), headers: session).status == 401, "processor functions need the key")
        #expect(h.call("GET", "/v1/jobs", key: .some(nil), headers: session).status == 401, "tenant functions need a tenant key")
        #expect(h.call("GET", "/v1/metrics/queues", key: .some(nil), headers: ["cookie": token + "x"]).status == 401)
        // A wrong key next to a good cookie is still a wrong key.
        #expect(h.call("GET", "/v1/metrics/queues", key: "nope", headers: session).status == 401)
        let logout = h.call("POST", "/v1/dashboard/logout", key: .some(nil))
        #expect(logout.status == 204 && logout.response.header("set-cookie")?.contains("Max-Age=0") == true)
    }

    @Test func thePageIsSelfContainedUnderAStrictPolicy() throws {
        let h = try Harness()
        let page = h.call("GET", "/dashboard", key: .some(nil))
        #expect(page.status == 200)
        #expect(page.response.header("content-type") == "text/html; charset=utf-8")
        let html = String(decoding: page.response.body, as: UTF8.self)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="), "no CDN, no external script")
        let csp = try #require(page.response.header("content-security-policy"))
        #expect(csp.contains(DashboardPage.hash(DashboardPage.script)) && csp.contains("default-src 'none'"))
        #expect(html.contains("<script>\(DashboardPage.script)</script>") && html.contains("<style>\(DashboardPage.style)</style>"))
        for colour in ["#0A1B2B", "#2B6CB0", "#38A169", "#DD6B20", "#E53E3E"] { #expect(html.contains(colour)) }
        #expect(html.contains("Inter,system-ui"))
    }
}
