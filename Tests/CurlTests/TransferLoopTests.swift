import Curl
import Foundation
import Synchronization
import TestSupport
import Testing

/// The multi-interface loop against the real echo server on 127.0.0.1.
@Suite struct TransferLoopTests {
    private let loop = TransferLoop.shared

    private func json(_ response: HTTPClientResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
    }

    /// 16 transfers that each wait until all 16 wait at once: only a loop that really runs
    /// them together gets 200s (a serial one would get 504s after the fixture's 60 s). Started
    /// from this thread with callbacks, so the test does not depend on the cooperative pool,
    /// which other tests may be blocking.
    @Test func transfersRunAtOnceOnOneThread() throws {
        let server = try EchoServer()
        let results = Mutex<[Int: (Int, String)]>([:])
        let group = DispatchGroup()
        for index in 0..<16 {
            group.enter()
            loop.start(HTTPClientRequest(method: "POST", url: server.base + "/barrier/16", body: Data("job \(index)".utf8), timeout: 90)) { result in
                let answer: (Int, String)
                switch result {
                case .success(let response):
                    let echo = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any]
                    answer = (response.status, echo?["body"] as? String ?? "")
                case .failure(let error):
                    answer = (0, "\(error)")
                }
                results.withLock { $0[index] = answer }
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 120) == .success)
        let all = results.withLock { $0 }
        #expect(all.count == 16)
        for (index, (status, body)) in all {
            #expect(status == 200, "\(body)")
            #expect(body == "job \(index)")
        }
    }

    /// Started from this thread with callbacks, one after another: an async test can wait on the
    /// cooperative pool (busy with other suites) longer than libcurl keeps an idle connection
    /// (118 s), and would then see a second connection that says nothing about reuse.
    @Test func sequentialTransfersReuseOneConnection() throws {
        let server = try EchoServer()
        func send(_ request: HTTPClientRequest) throws -> HTTPClientResponse {
            let outcome = Mutex<Result<HTTPClientResponse, any Error>?>(nil)
            let done = DispatchSemaphore(value: 0)
            loop.start(request) { result in
                outcome.withLock { $0 = result }
                done.signal()
            }
            #expect(done.wait(timeout: .now() + 30) == .success)
            return try #require(outcome.withLock { $0 }).get()
        }
        for index in 0..<20 {
            let response = try send(HTTPClientRequest(method: "POST", url: server.base + "/n/\(index)", body: Data("\(index)".utf8)))
            #expect(response.status == 200)
            #expect(try json(response)["body"] as? String == "\(index)")
        }
        let count = try send(HTTPClientRequest(url: server.base + "/connections"))
        #expect(try json(count)["connections"] as? Int == 1)
    }

    @Test func cancellingTheTaskAbandonsTheTransfer() async throws {
        let server = try EchoServer()
        let url = server.base
        // Far longer than any wait below: under a loaded run this test's awaits can be starved of
        // the cooperative pool for minutes, and the transfer must still be running when cancelled.
        let task = Task { try await TransferLoop.shared.send(HTTPClientRequest(url: url + "/sleep/600000", timeout: 900)) }
        // Wait until the request reached the server, so the cancel hits a running transfer.
        let connected = Date().addingTimeInterval(90)
        while Date() < connected {
            let count = try await loop.send(HTTPClientRequest(url: server.base + "/connections"))
            if try json(count)["connections"] as? Int == 2 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func cancelledBeforeItBeginsNeverConnects() async throws {
        let server = try EchoServer()
        let ticket = TransferTicket()
        ticket.cancel()
        let outcome = Mutex<Result<HTTPClientResponse, any Error>?>(nil)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            loop.start(HTTPClientRequest(url: server.base + "/x"), ticket: ticket) { result in
                outcome.withLock { $0 = result }
                done.resume()
            }
        }
        let result = try #require(outcome.withLock { $0 })
        #expect(throws: TransferNotStarted.self) { try result.get() }
        let count = try await loop.send(HTTPClientRequest(url: server.base + "/connections"))
        #expect(try json(count)["connections"] as? Int == 1, "only the count's own connection")
    }

    @Test func slowServerTimesOut() async throws {
        let server = try EchoServer()
        let error = try await #require(throws: CurlError.self) {
            try await loop.send(HTTPClientRequest(url: server.base + "/sleep/5000", timeout: 0.3))
        }
        #expect(error.code == .timeout)
    }

    @Test func refusedConnectionIsTransient() async throws {
        let error = try await #require(throws: CurlError.self) {
            try await loop.send(HTTPClientRequest(url: "http://127.0.0.1:1/"))
        }
        #expect(error.code == .couldNotConnect)
        #expect(error.isTransient)
    }

    @Test(arguments: [false, true])
    func longBodyKeepsItsStartWhenAsked(chunked: Bool) async throws {
        let server = try EchoServer()
        var request = HTTPClientRequest(url: server.base + "/big/1000000" + (chunked ? "?chunked=1" : ""), maxResponseBytes: 1000)
        request.truncatesBody = true
        let response = try await loop.send(request)
        #expect(response.status == 200)
        #expect(response.bodyTruncated)
        #expect(response.body == Data(repeating: UInt8(ascii: "x"), count: 1000))

        request.truncatesBody = false
        let error = try await #require(throws: CurlError.self) { try await loop.send(request) }
        #expect(error.code == .tooLarge)
    }

    @Test func refusedAddressNeverConnects() async throws {
        let server = try EchoServer()
        let asked = Mutex<[String]>([])
        var request = HTTPClientRequest(url: "http://localhost:\(server.server.port)/secret")
        request.allowAddress = { address in
            asked.withLock { $0.append(address.description) }
            return false
        }
        let error = try await #require(throws: CurlError.self) { try await loop.send(request) }
        #expect(error.code == .addressNotAllowed, "\(error)")
        #expect(error.message.contains("127.0.0.1") || error.message.contains("::1"), "\(error)")
        #expect(!asked.withLock { $0 }.isEmpty)
        let count = try await loop.send(HTTPClientRequest(url: server.base + "/connections"))
        #expect(try json(count)["connections"] as? Int == 1, "only the count's own connection")

        request.allowAddress = { $0.unmapped == IPAddress("127.0.0.1") }
        let allowed = try await loop.send(request)
        #expect(allowed.status == 200)
    }

    @Test func malformedRequestFailsWithoutTheLoop() async throws {
        let error = try await #require(throws: CurlError.self) {
            try await loop.send(HTTPClientRequest(url: "http://127.0.0.1:1/", headers: [("X-Bad", "a\r\nInjected: 1")]))
        }
        #expect(error.code == .invalidInput)
    }
}

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("127.0.0.1", [127, 0, 0, 1], "127.0.0.1"),
        ("::1", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], "::1"),
        ("::ffff:10.0.0.5", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 5], "::ffff:10.0.0.5"),
    ] as [(String, [UInt8], String)])
    func parsesAndPrints(text: String, bytes: [UInt8], printed: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.bytes == bytes)
        #expect(address.description == printed)
    }

    @Test func mappedAddressesUnmap() {
        #expect(IPAddress("::ffff:10.0.0.5")?.unmapped == IPAddress("10.0.0.5"))
        #expect(IPAddress("::1")?.unmapped == IPAddress("::1"))
    }

    @Test(arguments: ["", "localhost", "1.2.3", "[::1]", "fe80::1%eth0", "256.0.0.1"])
    func rejectsWhatIsNotAnAddress(text: String) {
        #expect(IPAddress(text) == nil)
    }
}
