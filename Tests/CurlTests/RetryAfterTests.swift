@testable import Curl
import Foundation
import Testing

struct RetryAfterTests {
    @Test(arguments: [
        ("120", 120), (" 1.5 ", 1.5), ("-4", 0),
        ("Sun, 06 Nov 1994 08:50:37 GMT", 60), ("Sun, 06 Nov 1994 08:40:00 GMT", 0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", nil), ("", nil), ("soon", nil),
    ] as [(String, Double?)])
    func readsSecondsAndHTTPDates(header: String, seconds: Double?) {
        let now = Date(timeIntervalSince1970: 784_111_777) // Sun, 06 Nov 1994 08:49:37 GMT
        let response = HTTPClientResponse(status: 429, headers: [("retry-after", header)], body: Data())
        #expect(response.retryAfterSeconds(now: now) == seconds)
    }

    @Test func absentIsNil() {
        #expect(HTTPClientResponse(status: 429, headers: [], body: Data()).retryAfterSeconds() == nil)
    }
}
