import Curl
import Foundation
import Handlers
import JobQueue
import Testing

/// deploy/nginx.conf's HTTPS lines, switched on as an operator would: the site answers over
/// TLS, and the dashboard's cookie is Secure exactly when nginx says the request came over TLS,
/// whatever X-Forwarded-Proto a client sends. The login location is rate-limited by nginx.
struct TLSSiteTests {
    func login(_ url: String, caFile: String? = nil, headers: [(String, String)] = []) throws -> HTTPClientResponse {
        var request = HTTPClientRequest(method: "POST", url: url + "/v1/dashboard/login",
                                        headers: [("content-type", "application/json")] + headers,
                                        body: Data(#"{"key":"\#(Stack.adminKey)"}"#.utf8), connectTimeout: 5, timeout: 20)
        request.caFile = caFile
        return try HTTPClient().send(request)
    }

    @Test func theCookieIsSecureOverTLSAndOnlyThen() throws {
        var options = Stack.Options()
        options.tls = true
        let stack = try Stack(options)
        defer { stack.stop() }
        let tlsURL = try #require(stack.tlsURL)
        let overTLS = try login(tlsURL, caFile: stack.certificate)
        #expect(overTLS.status == 200)
        let secure = try #require(overTLS.headers.first { $0.0.lowercased() == "set-cookie" }?.1)
        #expect(secure.hasSuffix("; Secure"), "\(secure)")
        let plain = try login(stack.baseURL, headers: [("x-forwarded-proto", "https")])
        #expect(plain.status == 200)
        let notSecure = try #require(plain.headers.first { $0.0.lowercased() == "set-cookie" }?.1)
        #expect(!notSecure.contains("Secure"), "a client's X-Forwarded-Proto is not TLS: \(notSecure)")
        // And the certificate is really checked: without the test's CA the handshake fails.
        #expect(throws: CurlError.self) { try login(tlsURL) }
    }

    /// Ten logins a minute with a burst of five per address, in the envelope with Retry-After:
    /// even good keys, which fcgi-host's own throttle (on refused keys) never stops.
    @Test func nginxRateLimitsTheLoginLocation() throws {
        let stack = try Stack()
        defer { stack.stop() }
        var statuses: [Int] = []
        var limited: HTTPClientResponse?
        for _ in 0..<12 {
            let answer = try login(stack.baseURL)
            statuses.append(answer.status)
            if answer.status == 429 { limited = answer }
        }
        #expect(statuses.prefix(6).allSatisfy { $0 == 200 }, "\(statuses)")
        let refused = try #require(limited, "no 429 in \(statuses)")
        #expect(refused.headers.first { $0.0.lowercased() == "retry-after" }?.1 == "6")
        #expect((try? JSONValue.parse(refused.body))?["error"]?["code"] == "rate_limited")
        // Other locations are not held up by the login's limit.
        #expect(try Web(stack.baseURL).call("GET", "/health").status == 200)
    }
}
