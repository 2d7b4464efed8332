import Curl
import Foundation
import TestSupport
import Synchronization
import Testing

/// HTTPClient against the real echo server on 127.0.0.1.
@Suite struct HTTPClientTests {
    /// The echo server's JSON answer.
    private func echo(_ response: HTTPClientResponse) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: response.body)
        return try #require(object as? [String: Any])
    }

    @Test func postRoundTripsHeadersAndEveryByteValue() throws {
        let server = try EchoServer()
        let client = try HTTPClient()
        let body = Data((0...255).map { UInt8($0) })
        let response = try client.send(HTTPClientRequest(
            method: "POST", url: server.base + "/things?x=1",
            headers: [("X-Test", "one two"), ("Content-Type", "application/octet-stream"), ("X-Empty", "")],
            body: body))

        #expect(response.status == 200)
        #expect(response.header("content-type") == "application/json")
        #expect(response.header("X-ECHO-METHOD") == "POST")
        let echo = try echo(response)
        #expect(echo["method"] as? String == "POST")
        #expect(echo["path"] as? String == "/things?x=1")
        let headers = try #require(echo["headers"] as? [String: String])
        #expect(headers["x-test"] == "one two")
        #expect(headers["x-empty"] == "")
        #expect(headers["content-type"] == "application/octet-stream")
        #expect(headers["content-length"] == "256")
        #expect(headers["expect"] == nil, "no 100-continue round trip for bodies")
        let base64 = try #require(echo["body_base64"] as? String)
        let echoed = try #require(Data(base64Encoded: base64))
        #expect(echoed == body)
    }

    @Test(arguments: ["GET", "DELETE", "PUT", "PATCH", "HEAD"])
    func methodsReachTheServer(method: String) throws {
        let server = try EchoServer()
        let client = try HTTPClient()
        let response = try client.send(HTTPClientRequest(method: method, url: server.base + "/m"))
        #expect(response.status == 200)
        #expect(response.header("x-echo-method") == method)
        if method == "HEAD" {
            #expect(response.body.isEmpty)
        } else {
            #expect(try echo(response)["method"] as? String == method)
        }
    }

    @Test func postWithoutContentTypeSendsNone() throws {
        let server = try EchoServer()
        let response = try HTTPClient().send(HTTPClientRequest(
            method: "POST", url: server.base + "/", body: Data("{}".utf8)))
        let headers = try #require(try echo(response)["headers"] as? [String: String])
        #expect(headers["content-type"] == nil, "libcurl's form content type is suppressed")
        #expect(try echo(response)["body"] as? String == "{}")
    }

    @Test(arguments: [400, 404, 422, 500, 503])
    func errorStatusesAreResponses(status: Int) throws {
        let server = try EchoServer()
        let response = try HTTPClient().send(HTTPClientRequest(url: server.base + "/status/\(status)"))
        #expect(response.status == status)
        #expect(try echo(response)["path"] as? String == "/status/\(status)")
    }

    @Test func refusedConnectionIsTransientWithLibcurlsWords() throws {
        let closed = try RefusingPort()
        let error = try #require(throws: CurlError.self) {
            try HTTPClient().send(HTTPClientRequest(url: "http://127.0.0.1:\(closed.port)/"))
        }
        #expect(error.code == .couldNotConnect)
        #expect(error.isTransient)
        #expect(error.curlCode == 7)
        #expect(error.responseCode == nil)
        #expect(error.message.contains("Couldn't connect to server"), "strerror: \(error.message)")
        #expect(error.message.contains("127.0.0.1 port \(closed.port)"), "error buffer: \(error.message)")
        #expect(error.description.contains("couldNotConnect"))
    }

    @Test func slowServerTimesOut() throws {
        let server = try EchoServer()
        let error = try #require(throws: CurlError.self) {
            try HTTPClient().send(HTTPClientRequest(url: server.base + "/sleep/5000", timeout: 0.5))
        }
        #expect(error.code == .timeout)
        #expect(error.isTransient)
        #expect(error.message.contains("Timeout was reached"), "\(error.message)")
    }

    @Test func closedWithoutAnswerIsATransientReceiveFailure() throws {
        let server = try EchoServer()
        let error = try #require(throws: CurlError.self) {
            try HTTPClient().send(HTTPClientRequest(url: server.base + "/close"))
        }
        #expect(error.code == .receiveFailed)
        #expect(error.isTransient)
    }

    @Test(arguments: [false, true])
    func bodyOverTheLimitIsTooLarge(chunked: Bool) throws {
        let server = try EchoServer()
        let client = try HTTPClient()
        let query = chunked ? "?chunked=1" : ""
        let error = try #require(throws: CurlError.self) {
            try client.send(HTTPClientRequest(url: server.base + "/big/200000\(query)", maxResponseBytes: 100_000))
        }
        #expect(error.code == .tooLarge)
        #expect(!error.isTransient)

        // Exactly at the limit is fine, and the handle is still usable after the abort.
        let response = try client.send(HTTPClientRequest(url: server.base + "/big/100000\(query)", maxResponseBytes: 100_000))
        #expect(response.body == Data(repeating: UInt8(ascii: "x"), count: 100_000))
    }

    @Test func sequentialRequestsReuseOneConnection() throws {
        let server = try EchoServer()
        let client = try HTTPClient()
        for index in 0..<20 {
            let method = index.isMultiple(of: 2) ? "GET" : "POST"
            let response = try client.send(HTTPClientRequest(
                method: method, url: server.base + "/n/\(index)", body: method == "POST" ? Data("\(index)".utf8) : Data()))
            #expect(response.status == 200)
        }
        let count = try client.send(HTTPClientRequest(url: server.base + "/connections"))
        #expect(try echo(count)["connections"] as? Int == 1)
    }

    @Test func clientsOnSeparateThreadsRunAtOnce() throws {
        let server = try EchoServer()
        let url = server.base
        let failures = Mutex<[String]>([])
        let group = DispatchGroup()
        for worker in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    // Each thread creates its own client: libcurl's global init races here.
                    let client = try HTTPClient()
                    for index in 0..<10 {
                        let response = try client.send(HTTPClientRequest(
                            method: "POST", url: url + "/w\(worker)/\(index)", body: Data("\(worker)-\(index)".utf8)))
                        let echo = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
                        if echo?["body"] as? String != "\(worker)-\(index)" {
                            failures.withLock { $0.append("worker \(worker) request \(index): wrong echo") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("worker \(worker): \(error)") }
                }
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(failures.withLock { $0 } == [])
    }

    @Test func errorStatusKeepsTheConnection() throws {
        let server = try EchoServer()
        let client = try HTTPClient()
        _ = try client.send(HTTPClientRequest(url: server.base + "/status/500"))
        _ = try client.send(HTTPClientRequest(url: server.base + "/status/404"))
        let count = try client.send(HTTPClientRequest(url: server.base + "/connections"))
        #expect(try echo(count)["connections"] as? Int == 1)
    }

    @Test(arguments: [
        HTTPClientRequest(url: "http://127.0.0.1:1/", headers: [("X-Bad", "a\r\nInjected: yes")]),
        HTTPClientRequest(url: "http://127.0.0.1:1/", headers: [("Bad Name", "v")]),
        HTTPClientRequest(method: "GET /x", url: "http://127.0.0.1:1/"),
        HTTPClientRequest(url: "http://127.0.0.1:1/a b"),
        HTTPClientRequest(url: "ftp://127.0.0.1:1/"),
        HTTPClientRequest(url: "file:///etc/passwd"),
        HTTPClientRequest(url: "not a url"),
        HTTPClientRequest(url: "http://127.0.0.1:1/", timeout: 0),
        HTTPClientRequest(url: "http://127.0.0.1:1/", maxResponseBytes: 0),
    ])
    func malformedRequestsAreRefused(request: HTTPClientRequest) throws {
        let error = try #require(throws: CurlError.self) { try HTTPClient().send(request) }
        #expect(error.code == .invalidInput, "\(error)")
        #expect(!error.isTransient)
    }

    @Test func credentialsInTheURLStayOutOfErrors() throws {
        let closed = try RefusingPort()
        let error = try #require(throws: CurlError.self) {
            try HTTPClient().send(HTTPClientRequest(url: "http://bob:hunter22@127.0.0.1:\(closed.port)/"))
        }
        #expect(error.code == .couldNotConnect)
        #expect(!error.description.contains("hunter22"))
    }

    @Test func untrustedCertificateIsATLSError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curl-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                             "-days", "1", "-keyout", key, "-out", cert]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)

        let server = try EchoServer(arguments: ["--tls-cert", cert, "--tls-key", key])
        let error = try #require(throws: CurlError.self) {
            try HTTPClient().send(HTTPClientRequest(url: "https://127.0.0.1:\(server.server.port)/"))
        }
        #expect(error.code == .tls, "\(error)")
        #expect(!error.isTransient)
    }
}

extension HTTPClientRequest: CustomTestStringConvertible {
    public var testDescription: String { "\(method) \(url)" }
}
