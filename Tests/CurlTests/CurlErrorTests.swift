import Curl
import Testing

/// Which failures are worth retrying.
@Suite struct CurlErrorTests {
    @Test(arguments: [
        (CurlError.Code.couldNotResolve, nil, true),
        (.couldNotConnect, nil, true),
        (.timeout, nil, true),
        (.sendFailed, nil, true),
        (.receiveFailed, nil, true),
        (.serverRejected, 421, true),
        (.serverRejected, 451, true),
        (.serverRejected, 452, true),
        (.serverRejected, 550, false),
        (.serverRejected, 554, false),
        (.serverRejected, 535, false),
        (.serverRejected, nil, false),
        (.tls, nil, false),
        (.tooLarge, nil, false),
        (.invalidInput, nil, false),
        (.other, nil, false),
    ] as [(CurlError.Code, Int?, Bool)])
    func transience(code: CurlError.Code, responseCode: Int?, transient: Bool) {
        let error = CurlError(code, curlCode: 55, message: "words", responseCode: responseCode)
        #expect(error.isTransient == transient)
    }

    @Test func descriptionNamesCodeAndReply() {
        let error = CurlError(.serverRejected, curlCode: 55, message: "RCPT failed", responseCode: 550)
        #expect(error.description == "curl serverRejected error [CURLcode 55] [reply 550]: RCPT failed")
        #expect(CurlError(.invalidInput, message: "bad").description == "curl invalidInput error: bad")
    }
}
