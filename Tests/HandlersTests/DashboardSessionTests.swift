import Accounts
import Foundation
@testable import Handlers
import JobQueue
import Testing

/// The dashboard's login: the session cookie, what it opens and what it does not.
struct DashboardSessionTests {
    /// One request through the router with what nginx would pass: the client's address and
    /// whether it came over TLS.
    static func send(_ h: Harness, _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:],
                     address: String = "192.0.2.1", secure: Bool = false, context: FunctionContext? = nil) -> Answer {
        var request = HTTPRequest(method: method, path: path, headers: ["content-type": "application/json"].merging(headers) { $1 },
                                  body: Data((body ?? "").utf8))
        request.remoteAddress = address
        request.isSecure = secure
        return Answer(response: h.router.handle(request, context: context ?? h.context))
    }

    static func login(_ h: Harness, key: String, address: String = "192.0.2.1", secure: Bool = false, headers: [String: String] = [:],
                      context: FunctionContext? = nil) -> Answer {
        send(h, "POST", "/v1/dashboard/login", body: JSONValue.object(["key": .string(key)]).jsonText, headers: headers,
             address: address, secure: secure, context: context)
    }

    /// The `name=value` part of a Set-Cookie.
    static func cookiePair(_ answer: Answer) throws -> String {
        String(try #require(answer.response.header("set-cookie")).split(separator: ";")[0])
    }

    /// Each login from an address of its own: the throttle counts per address, on a shared cluster.
    func login(_ h: Harness, key: String) -> Answer { Self.login(h, key: key, address: "test-\(UUID().uuidString)") }

    @Test func loginSetsAStrictHttpOnlyCookieThatOpensAdminFunctionsOnly() throws {
        let h = try Harness()
        #expect(login(h, key: "wrong").status == 401)
        #expect(login(h, key: h.key).status == 401, "a tenant key is no admin key")
        let answer = login(h, key: Harness.adminKey)
        #expect(answer.status == 200)
        #expect(answer.json["csrfToken"]?.stringValue?.count == 64)
        let cookie = try #require(answer.response.header("set-cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"))
        #expect(!cookie.contains("Secure"), "not over TLS")
        #expect(!cookie.contains(Harness.adminKey))
        let token = try Self.cookiePair(answer)
        let session = ["cookie": "theme=dark; \(token)"]
        #expect(h.call("GET", "/v1/metrics/queues", key: .some(nil), headers: session).status == 200)
        #expect(h.call("POST", "/v1/maintenance/prune", body: "{}", key: .some(nil), headers: session).status == 401, "processor functions need the key")
        #expect(h.call("GET", "/v1/jobs", key: .some(nil), headers: session).status == 401, "tenant functions need a tenant key")
        #expect(h.call("GET", "/v1/metrics/queues", key: .some(nil), headers: ["cookie": token + "x"]).status == 401)
        // A wrong key next to a good cookie is still a wrong key.
        #expect(h.call("GET", "/v1/metrics/queues", key: "nope", headers: session).status == 401)
    }

    /// The Secure flag follows what nginx says (HTTPS), never a client's X-Forwarded-Proto.
    @Test func theSecureFlagFollowsTheFrontDoor() throws {
        let h = try Harness()
        let forged = Self.login(h, key: Harness.adminKey, address: "secure-test", headers: ["x-forwarded-proto": "https"])
        #expect(forged.response.header("set-cookie")?.contains("Secure") == false)
        let tls = Self.login(h, key: Harness.adminKey, address: "secure-test", secure: true)
        #expect(tls.response.header("set-cookie")?.hasSuffix("; Secure") == true)
    }

    /// Logout ends the session on the server: a copy of the cookie stops working. A new admin
    /// key ends every session.
    @Test func logoutAndANewAdminKeyEndSessionsServerSide() throws {
        let h = try Harness()
        let copied = ["cookie": try Self.cookiePair(login(h, key: Harness.adminKey))]
        #expect(h.call("GET", "/v1/metrics/queues", key: .some(nil), headers: copied).status == 200)
        let logout = Self.send(h, "POST", "/v1/dashboard/logout", headers: copied.merging(["origin": "http://conveyor.test", "host": "conveyor.test"]) { $1 })
        #expect(logout.status == 204 && logout.response.header("set-cookie")?.contains("Max-Age=0") == true)
        #expect(h.call("GET", "/v1/metrics/queues", key: .some(nil), headers: copied).status == 401, "the copied cookie died with the session")

        let other = ["cookie": try Self.cookiePair(login(h, key: Harness.adminKey))]
        let newKey = "admin-rotated-\(UUID().uuidString)"
        let rotated = FunctionContext(configuration: Configuration(environment: Harness.environment().merging(["CONVEYOR_ADMIN_KEY": newKey]) { $1 }),
                                      manifest: h.context.manifest, logger: h.context.logger)
        #expect(Self.send(h, "GET", "/v1/metrics/queues", headers: other, context: rotated).status == 401, "a new admin key ends old sessions")
        #expect(Self.send(h, "GET", "/v1/metrics/queues", headers: other).status == 200, "under the old key it was live")
    }

    /// A change made with the cookie needs this site's Origin (or Sec-Fetch-Site) and the
    /// session's CSRF token; a refused one changes nothing. The key in a header needs neither.
    @Test func cookieChangesNeedThisSitesOriginAndTheCSRFToken() throws {
        let h = try Harness()
        let answer = login(h, key: Harness.adminKey)
        let csrf = try #require(answer.json["csrfToken"]?.stringValue)
        let cookie = try Self.cookiePair(answer)
        let queue = h.queue
        let host = "conveyor.test:8080"
        let cases: [(String, [String: String], Int)] = [
            ("no origin at all", ["x-csrf-token": csrf], 403),
            ("another port of the same host", ["origin": "http://conveyor.test:9999", "x-csrf-token": csrf], 403),
            ("another site", ["origin": "https://evil.example", "x-csrf-token": csrf], 403),
            ("an opaque origin", ["origin": "null", "x-csrf-token": csrf], 403),
            ("cross-site fetch metadata", ["sec-fetch-site": "same-site", "x-csrf-token": csrf], 403),
            ("same origin without the token", ["origin": "http://\(host)"], 403),
            ("same origin with a wrong token", ["origin": "http://\(host)", "x-csrf-token": String(csrf.reversed())], 403),
            ("another session's token", ["origin": "http://\(host)", "x-csrf-token": DashboardSession.csrfToken(for: String(repeating: "a", count: 64))], 403),
        ]
        for (what, headers, status) in cases {
            let refused = Self.send(h, "POST", "/v1/queues/\(queue)/pause", headers: headers.merging(["cookie": cookie, "host": host]) { $1 })
            #expect(refused.status == status, "\(what): \(refused.json)")
            #expect(refused.errorCode == "forbidden", "\(what)")
        }
        let paused = try h.db.query("SELECT count(*)::int AS n FROM conveyor_queues WHERE name = \(queue) AND paused")[0].decode("n", as: Int.self)
        #expect(paused == 0, "nothing refused changed anything")
        let same = Self.send(h, "POST", "/v1/queues/\(queue)/pause", headers: ["cookie": cookie, "host": host, "origin": "http://\(host)", "x-csrf-token": csrf])
        #expect(same.status == 200, "\(same.json)")
        let fetchMetadata = Self.send(h, "POST", "/v1/queues/\(queue)/resume", headers: ["cookie": cookie, "host": host, "sec-fetch-site": "same-origin", "x-csrf-token": csrf])
        #expect(fetchMetadata.status == 200)
        // The admin key itself is no ambient authority: no Origin or token needed.
        #expect(h.call("POST", "/v1/queues/\(queue)/pause", key: Harness.adminKey).status == 200)
        _ = try h.db.execute("DELETE FROM conveyor_queues WHERE name = \(queue)")
    }

    @Test func loginsAreThrottledPerAddress() throws {
        let h = try Harness()
        let address = "203.0.113.\(Int.random(in: 1...250))-\(UUID().uuidString.prefix(6))"
        for _ in 0..<DashboardSession.failuresAllowed {
            #expect(Self.login(h, key: "guess-\(UUID().uuidString)", address: address).status == 401)
        }
        let throttled = Self.login(h, key: Harness.adminKey, address: address)
        #expect(throttled.status == 429, "even the right key waits")
        let after = Int(throttled.response.header("retry-after") ?? "") ?? 0
        #expect(after >= 1 && after <= DashboardSession.failureWindowSeconds)
        #expect(throttled.response.header("set-cookie") == nil)
        // Another address is not held up by this one.
        #expect(Self.login(h, key: Harness.adminKey, address: address + "-other").status == 200)
        _ = try h.db.execute("DELETE FROM conveyor_login_failures WHERE address = \(address)")
    }

    @Test func thePageCarriesTheCSRFTokenOnlyForALiveSession() throws {
        let h = try Harness()
        let answer = login(h, key: Harness.adminKey)
        let csrf = try #require(answer.json["csrfToken"]?.stringValue)
        let signedIn = String(decoding: h.call("GET", "/dashboard", key: .some(nil), headers: ["cookie": try Self.cookiePair(answer)]).response.body, as: UTF8.self)
        #expect(signedIn.contains(#"<meta name="conveyor-csrf" content="\#(csrf)">"#))
        let anonymous = String(decoding: h.call("GET", "/dashboard", key: .some(nil)).response.body, as: UTF8.self)
        #expect(!anonymous.contains("conveyor-csrf\" content"))
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
