import Foundation
@testable import Handlers
import Testing

/// Which key a request presents: x-api-key first, then a Bearer token, blanks around it ignored.
struct PresentedKeyTests {
    static let cases: [([String: String], String?)] = [
        (["x-api-key": "cvk_abc"], "cvk_abc"),
        (["x-api-key": "  cvk_abc \t"], "cvk_abc"),
        (["x-api-key": "\tcvk_a b\t"], "cvk_a b"),
        (["x-api-key": "   "], nil),
        (["x-api-key": ""], nil),
        (["authorization": "Bearer cvk_abc"], "cvk_abc"),
        (["authorization": "bearer   cvk_abc  "], "cvk_abc"),
        (["authorization": "Basic cvk_abc"], nil),
        (["authorization": "Bearer"], nil),
        (["x-api-key": " ", "authorization": "Bearer cvk_b"], "cvk_b"),
        (["x-api-key": "cvk_é ", "authorization": "Bearer cvk_b"], "cvk_é"),
        ([:], nil),
    ]

    @Test(arguments: cases)
    func presentedKey(headers: [String: String], expected: String?) {
        let request = HTTPRequest(method: "GET", path: "/v1/jobs/1", headers: headers, body: Data())
        #expect(Authenticator.presentedKey(request) == expected)
    }
}
