import FastCGI
import Foundation
import Glibc
import Testing

/// `fcgi-host` as a real process, for what needs no database: options, signals, keep-alive,
/// early refusals and CGI mode's failure paths.
struct FCGIHostCommandTests {
    static func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = HostProcess.binary
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        var env = ProcessInfo.processInfo.environment
        env["CONVEYOR_MANIFEST"] = nil
        process.environment = env
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    static let manifest = HostProcess.repoRoot.appendingPathComponent("functions.json").path

    @Test(arguments: [
        (["serve"], "--listen is required"),
        (["serve", "--listen", "example.com:80", "--manifest", manifest], "not an IPv4 address"),
        (["serve", "--listen", "unix:/tmp/fcgi-never.sock"], "cannot read the function manifest at /tmp/functions.json"),
        (["serve", "--listen", "unix:/tmp/fcgi-never.sock", "--manifest", "/nonexistent/functions.json"], "/nonexistent/functions.json"),
        (["serve", "--listen", "unix:/tmp/fcgi-never.sock", "--manifest", manifest, "--socket-mode", "999"], "octal"),
        (["serve", "--listen", "unix:/nonexistent-dir/x.sock", "--manifest", manifest], "bind"),
        (["serve", "--listen", "unix:/tmp/fcgi-never-\(getpid()).sock", "--manifest", manifest, "--socket-group", "no-such-group-xyz"], "no group named"),
        (["serve", "--listen", "unix:/tmp/fcgi-never.sock", "--manifest", manifest, "--workers", "0"], "--workers"),
        (["serve", "--listen", "unix:/tmp/fcgi-never.sock", "--manifest", manifest, "--batch-listen", "unix:/tmp/fcgi-never-batch.sock",
          "--batch-workers", "0"], "--batch-workers"),
        (["serve", "--listen", "unix:/tmp/fcgi-never.sock", "--manifest", manifest, "--batch-listen", "example.com:80"], "not an IPv4 address"),
    ])
    func configurationErrorsAreOneLineAndExit2(_ arguments: [String], _ mentions: String) throws {
        let r = try Self.run(arguments)
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("fcgi-host: "))
        #expect(r.stderr.contains(mentions))
        #expect(r.stderr.filter { $0 == "\n" }.count == 1, "more than one line: \(r.stderr)")
        #expect(access("/tmp/fcgi-never-\(getpid()).sock", F_OK) != 0, "a failed start left its socket file")
    }

    @Test func earlyPayloadTooLargeKeepsTheConnection() throws {
        let host = try HostProcess(workers: 2)
        defer { host.stop() }
        let client = try host.client()
        // 100 kB declared for process-batch (limit 4 KiB): refused before the body is read.
        try client.send(FCGIClient.requestRecords(id: 1, params: HostProcess.params("POST", "/v1/process-batch", key: HostProcess.processorKey, bodyLength: 100_000),
                                                  stdin: [UInt8](repeating: 0x20, count: 1_000), terminateStdin: false))
        let refused = try client.readResponse(id: 1)
        let http = try #require(refused.http)
        #expect(http.status == 413)
        #expect(String(decoding: http.body, as: UTF8.self).contains(#""code":"payload_too_large""#))
        #expect(String(decoding: http.body, as: UTF8.self).contains(#""limitBytes":4096"#))
        try client.send(FCGIClient.requestRecords(id: 1, params: [], stdin: [UInt8](repeating: 0x20, count: 99_000)).filter { $0.type == .stdin })
        // The same connection then answers the next request.
        let next = try client.request(id: 2, params: HostProcess.params("GET", "/v1/pool/status", key: HostProcess.adminKey))
        #expect(next.http?.status == 200)
        // No function at a path: 404 without reading the body.
        let missing = try client.request(id: 3, params: HostProcess.params("POST", "/nowhere", bodyLength: 5), stdin: Array("{}   ".utf8))
        #expect(missing.http?.status == 404)
    }

    @Test func garbageClosesOnlyThatConnection() throws {
        let host = try HostProcess(workers: 1)
        defer { host.stop() }
        for junk in [Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8), [1, 1, 0, 1, 0, 3, 0, 0, 0, 1, 1]] {
            let bad = try host.client()
            try bad.send(raw: junk)
            #expect(try bad.readRecord() == nil)
        }
        let status = try host.poolStatus()
        #expect(status["crashes"] as? Int == 0)
        #expect(status["respawns"] as? Int == 0)
    }

    @Test func anIdleKeptConnectionDoesNotStarveOthers() throws {
        let host = try HostProcess(workers: 1)
        defer { host.stop() }
        let idle = try host.client()
        #expect(try idle.request(params: HostProcess.params("GET", "/v1/pool/status", key: HostProcess.adminKey)).http?.status == 200)
        // The only worker holds `idle` open; a second connection must still get through, and
        // `idle` stays usable: nothing is closed to make room.
        for _ in 0..<3 { #expect(try host.request("GET", "/v1/pool/status", key: HostProcess.adminKey).status == 200) }
        #expect(try idle.request(id: 2, params: HostProcess.params("GET", "/v1/pool/status", key: HostProcess.adminKey)).http?.status == 200)
    }

    @Test func withoutADatabaseTheHostRunsAndAnswers503() throws {
        let host = try HostProcess(workers: 1, environment: ["DATABASE_URL": nil])
        defer { host.stop() }
        let health = try host.request("GET", "/health")
        #expect(health.status == 503)
        #expect(String(decoding: health.body, as: UTF8.self).contains(#""code":"unavailable""#))
        #expect(try host.request("GET", "/v1/pool/status", key: HostProcess.adminKey).status == 200)
    }

    @Test func sigtermToOneWorkerRecyclesIt() throws {
        let host = try HostProcess(workers: 2)
        defer { host.stop() }
        // A worker counts as ready (its signal handlers installed) once it marks itself idle.
        var before: [Int] = []
        try waitUntil("both workers are up", seconds: 20) {
            let workers = (try host.poolStatus()["workers"] as? [[String: Any]]) ?? []
            before = workers.compactMap { $0["pid"] as? Int }
            return workers.count == 2 && workers.allSatisfy { ["idle", "active"].contains($0["state"] as? String ?? "") }
        }
        kill(pid_t(before[1]), SIGTERM)
        var status: [String: Any] = [:]
        try waitUntil("the stopped worker is replaced", seconds: 20) {
            status = try host.poolStatus()
            let pids = HostProcess.workerPids(status)
            return pids.count == 2 && !pids.contains(before[1])
        }
        #expect((status["recycles"] as? Int ?? 0) >= 1)
        #expect(status["crashes"] as? Int == 0)
    }

    @Test func sigtermWithAnIdleKeptConnectionStopsPromptly() throws {
        let host = try HostProcess(workers: 2)
        defer { host.stop() }
        let idle = try host.client()
        #expect(try idle.request(params: HostProcess.params("GET", "/v1/pool/status", key: HostProcess.adminKey)).http?.status == 200)
        kill(host.pid, SIGTERM)
        try #require(host.waitForExit(seconds: 10)) // well inside the 15 s grace: nobody was killed
        #expect(host.process.terminationStatus == 0)
        #expect(!host.log.contains("killing it"))
        #expect(try idle.readRecord() == nil)
        #expect(access(host.socketPath, F_OK) != 0)
    }

    @Test func tcpListenerAndTheProbeCommand() throws {
        let host = try HostProcess(workers: 1, tcp: true)
        defer { host.stop() }
        guard case .tcp(_, let port) = host.address else { Issue.record("not TCP"); return }
        #expect(port != 0)
        let listen = "127.0.0.1:\(port)"
        let status = try Self.probe(["--listen", listen, "/v1/pool/status", "--key-from-env", "FCGI_TEST_KEY"], key: HostProcess.adminKey)
        #expect(status.status == 0)
        #expect(status.stdout.contains(#""processManager":"static""#))
        #expect(status.stdout.contains(#""listen":"\#(listen)""#))
        #expect(status.stderr == "HTTP 200\n")
        #expect(try Self.probe(["--listen", listen, "/v1/pool/status"]).status == 1)
        let down = try Self.probe(["--listen", "unix:\(host.dir)/none.sock"])
        #expect(down.status == 2)
        #expect(down.stderr.hasPrefix("fcgi-host: connect"))
    }

    static func probe(_ arguments: [String], key: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = HostProcess.binary
        process.arguments = ["probe"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["FCGI_TEST_KEY"] = key
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func cgiRefusesAnOversizedBodyWithoutWaitingForIt() throws {
        let r = try CGIRun.run(["REQUEST_METHOD": "POST", "DOCUMENT_URI": "/v1/process-batch", "HTTP_X_API_KEY": HostProcess.processorKey,
                                "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "10000000"],
                               stdin: String(repeating: " ", count: 1000), keepStdinOpen: true)
        #expect(r.status == 0)
        #expect(r.response?.status == 413)
        #expect(String(decoding: r.stdout.prefix(26), as: UTF8.self) == "Status: 413 Payload Too La")
    }

    @Test func cgiAnswersRoutingErrorsWithoutADatabase() throws {
        let missing = try CGIRun.run(["REQUEST_METHOD": "GET", "REQUEST_URI": "/nowhere?x=1"])
        #expect(missing.response?.status == 404)
        let wrongMethod = try CGIRun.run(["REQUEST_METHOD": "DELETE", "DOCUMENT_URI": "/health"])
        #expect(wrongMethod.response?.status == 405)
        #expect(wrongMethod.response?.header("Allow") == "GET")
        let noKey = try CGIRun.run(["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/v1/pool/status", "HTTP_X_API_KEY": HostProcess.adminKey])
        #expect(noKey.response?.status == 404) // CGI mode runs no pool
    }

    @Test func cgiWithABadManifestAnswers500AndExits2() throws {
        let r = try CGIRun.run(["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/health"], manifest: "/nonexistent/functions.json")
        #expect(r.status == 2)
        #expect(r.response?.status == 500)
        #expect(r.stderr.hasPrefix("fcgi-host: "))
        #expect(!String(decoding: r.stdout, as: UTF8.self).contains("nonexistent"))
    }
}
