import Foundation
import Testing

/// `cron-driver once`, the real binary against a recording HTTP server.
struct OnceTests {
    static let key = "cron-once-test-key-\(UUID().uuidString.prefix(8))"

    func runOnce(_ arguments: [String], url: String, in directory: URL, environment: [String: String]? = nil) throws -> Child {
        let env = environment ?? DriverHarness.environment(["CONVEYOR_URL": url, "CONVEYOR_PROCESSOR_KEY": Self.key])
        return try Child(DriverHarness.binary, ["once"] + arguments, environment: env, directory: directory, label: "once-\(UUID().uuidString.prefix(6))")
    }

    @Test func postsTheFunctionWithKeyAndBody() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: DriverHarness.binary.path), "cron-driver not built at \(DriverHarness.binary.path)")
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/v1/process-batch=200:{"claimed":2,"completed":2}"#])
        defer { recorder.stop() }

        let once = try runOnce(["process-batch", #"{"maxJobs":500,"maxSeconds":50}"#], url: recorder.url + "/", in: dir)
        #expect(await once.wait(timeout: 30) == 0)
        #expect(once.stdout == #"{"claimed":2,"completed":2}"# + "\n")
        #expect(once.stderr == "HTTP 200\n")

        // Without a body, POST sends {}.
        let bare = try runOnce(["process-batch"], url: recorder.url, in: dir)
        #expect(await bare.wait(timeout: 30) == 0)

        let requests = recorder.requests
        try #require(requests.count == 2)
        for request in requests {
            #expect(request.method == "POST")
            #expect(request.path == "/v1/process-batch")
            #expect(request.headers["x-api-key"] == Self.key)
            #expect(request.headers["content-type"] == "application/json")
        }
        #expect(requests[0].body == #"{"maxJobs":500,"maxSeconds":50}"#)
        #expect(requests[1].body == "{}")
    }

    @Test func usesTheManifestsMethod() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/health=200:{"status":"ok"}"#])
        defer { recorder.stop() }
        let once = try runOnce(["health"], url: recorder.url, in: dir)
        #expect(await once.wait(timeout: 30) == 0)
        #expect(recorder.requests.map { "\($0.method) \($0.path) \($0.body)" } == ["GET /health "])
    }

    @Test func non2xxExitsOneWithTheStatus() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/v1/process-batch=500:{"error":{"code":"internal"}}"#])
        defer { recorder.stop() }
        let once = try runOnce(["process-batch"], url: recorder.url, in: dir)
        #expect(await once.wait(timeout: 30) == 1)
        #expect(once.stdout.contains(#""code":"internal""#))
        #expect(once.stderr == "HTTP 500\n")
        // A server error is an answer: no retry.
        #expect(recorder.requests.count == 1)
    }

    @Test func connectionRefusedIsRetriedThreeTimesThenFails() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try DriverHarness.freePort()
        let once = try runOnce(["process-batch"], url: "http://127.0.0.1:\(port)", in: dir)
        #expect(await once.wait(timeout: 60) == 1)
        let lines = once.stderr.split(separator: "\n")
        #expect(lines.count == 4, "\(once.stderr)")
        for n in 1...3 {
            #expect(lines.contains { $0.contains("couldNotConnect") && $0.hasSuffix("retry \(n) of 3 in \(["0.5", "1.0", "2.0"][n - 1]) s") })
        }
        #expect(lines.last?.hasPrefix("cron-driver: process-batch: curl couldNotConnect error") == true)
        #expect(!once.stderr.contains(Self.key))
        #expect(once.stdout.isEmpty)
    }

    @Test func aServerThatComesUpDuringTheRetriesGetsTheCall() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = try DriverHarness.freePort()
        let once = try runOnce(["process-batch", #"{"maxJobs":1}"#], url: "http://127.0.0.1:\(port)", in: dir)
        // The first attempt has failed once the first retry is announced: listen then. A plain
        // thread watches for it (the async test pool can be busy for seconds on a loaded machine)
        // and the socket is already bound, so listening takes no time at all.
        let server = try LateServer(port: port) { once.stderr.contains("retry 1 of 3") }
        #expect(await once.wait(timeout: 60) == 0, "\(once.stderr)")
        #expect(server.bodies == [#"{"maxJobs":1}"#])
    }

    struct ConfigCase: Sendable, CustomTestStringConvertible {
        var unset: String
        var arguments: [String]
        var message: String
        var testDescription: String { message }
    }

    static let configCases: [ConfigCase] = [
        ConfigCase(unset: "CONVEYOR_PROCESSOR_KEY", arguments: ["process-batch"], message: "cron-driver: CONVEYOR_PROCESSOR_KEY is not set\n"),
        ConfigCase(unset: "CONVEYOR_URL", arguments: ["process-batch"], message: "cron-driver: CONVEYOR_URL is not set\n"),
        ConfigCase(unset: "", arguments: ["enqueue-everything"], message: "cron-driver: no function named enqueue-everything in the manifest; known: "),
        ConfigCase(unset: "", arguments: ["noop"], message: "cron-driver: noop runs only as a job and has no route to call\n"),
        ConfigCase(unset: "", arguments: ["process-batch", "--manifest", "/nonexistent/functions.json"],
                   message: "cron-driver: cannot read the function manifest at /nonexistent/functions.json"),
    ]

    @Test(arguments: configCases)
    func configurationErrorsAreOneLineAndExit2(_ c: ConfigCase) async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var env = DriverHarness.environment(["CONVEYOR_URL": "http://127.0.0.1:9", "CONVEYOR_PROCESSOR_KEY": Self.key])
        env[c.unset] = nil
        let once = try runOnce(c.arguments, url: "", in: dir, environment: env)
        #expect(await once.wait(timeout: 30) == 2)
        #expect(once.stderr.hasPrefix(c.message))
        #expect(once.stderr.split(separator: "\n").count == 1)
        #expect(!once.stderr.contains(Self.key))
    }
}

/// An HTTP server whose socket is bound at once but listens only when `listenWhen` holds
/// (until then connections are refused): records each request body and answers 200 `{}`.
final class LateServer: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []

    var bodies: [String] { lock.lock(); defer { lock.unlock() }; return received }

    init(port: Int, listenWhen: @escaping @Sendable () -> Bool) throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard ok else { close(sock); throw POSIXError(.EADDRINUSE) }
        fd = sock
        Thread.detachNewThread { [weak self] in
            let deadline = Date().addingTimeInterval(30)
            while !listenWhen() && Date() < deadline { usleep(5_000) }
            guard listen(sock, 8) == 0 else { return }
            while true {
                let client = accept(sock, nil, nil)
                guard client >= 0 else { return }
                guard let self else { close(client); return }
                self.serve(client)
            }
        }
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(client, &buffer, buffer.count, 0)
            guard n > 0 else { return }
            data += buffer[0..<n]
            let text = String(decoding: data, as: UTF8.self)
            guard let end = text.range(of: "\r\n\r\n") else { continue }
            let head = text[..<end.lowerBound].lowercased()
            let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            let body = Array(text.utf8)[(text.utf8.distance(from: text.startIndex, to: end.upperBound))...]
            guard body.count >= length else { continue }
            lock.lock(); received.append(String(decoding: body.prefix(length), as: UTF8.self)); lock.unlock()
            let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
            _ = reply.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            return
        }
    }
}
