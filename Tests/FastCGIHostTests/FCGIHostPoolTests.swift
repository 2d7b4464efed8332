import FastCGI
import Foundation
import Glibc
import Handlers
import Postgres
import Testing

/// `fcgi-host serve` as a real process against the throwaway database: the pool's life cycle.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DATABASE_URL"] != nil, "needs DATABASE_URL (scripts/with-postgres)"))
struct FCGIHostPoolTests {
    static func migrate() throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        try ConveyorSchema.migrate(Connection(url: url))
    }

    @Test func healthGetValuesAndPoolStatus() throws {
        try Self.migrate()
        let host = try HostProcess(workers: 2)
        defer { host.stop() }
        var st = stat()
        #expect(stat(host.socketPath, &st) == 0 && st.st_mode & 0o777 == 0o666)

        let health = try host.request("GET", "/health")
        #expect(health.status == 200)
        #expect(health.header("Content-Type") == "application/json")
        #expect(String(decoding: health.body, as: UTF8.self).contains(#""status":"ok""#))

        let client = try host.client()
        #expect(try client.getValues(["FCGI_MAX_CONNS", "FCGI_MPXS_CONNS"]) == ["FCGI_MAX_CONNS": "2", "FCGI_MPXS_CONNS": "0"])

        #expect(try host.request("GET", "/v1/pool/status").status == 401)
        #expect(try host.request("GET", "/v1/pool/status", key: HostProcess.processorKey).status == 403)
        let status = try host.poolStatus()
        for field in ["pool", "listen", "processManager", "startTime", "uptimeSeconds", "acceptedRequests", "activeWorkers",
                      "idleWorkers", "totalWorkers", "maxActiveWorkers", "respawns", "slowRequests", "workers"] {
            #expect(status[field] != nil, "pool-status lacks \(field)")
        }
        #expect(status["listen"] as? String == "unix:\(host.socketPath)")
        #expect(status["processManager"] as? String == "static")
        #expect(status["totalWorkers"] as? Int == 2)
        #expect((status["activeWorkers"] as? Int ?? 0) >= 1) // the one answering
        #expect((status["acceptedRequests"] as? Int ?? 0) >= 4)
        #expect((status["maxActiveWorkers"] as? Int ?? 0) >= 1)
        #expect(status["respawns"] as? Int == 0)
        #expect(HostProcess.workerPids(status).count == 2)
        #expect(!host.log.contains(HostProcess.adminKey))
    }

    @Test func aKilledWorkerIsReplaced() throws {
        try Self.migrate()
        let host = try HostProcess(workers: 2)
        defer { host.stop() }
        let before = HostProcess.workerPids(try host.poolStatus())
        try #require(before.count == 2)
        kill(pid_t(before[0]), SIGKILL)
        var after: [String: Any] = [:]
        try waitUntil("a replacement worker shows up", seconds: 20) {
            after = try host.poolStatus()
            let pids = HostProcess.workerPids(after)
            return pids.count == 2 && !pids.contains(before[0]) && (after["respawns"] as? Int ?? 0) >= 1
        }
        #expect(HostProcess.workerPids(after).contains(before[1]))
        #expect((after["crashes"] as? Int ?? 0) >= 1)
        for _ in 0..<6 { #expect(try host.request("GET", "/health").status == 200) }
        #expect(host.log.contains("worker exited"))
    }

    @Test func workersAreRecycledAfterMaxRequests() throws {
        try Self.migrate()
        let host = try HostProcess(workers: 2, arguments: ["--max-requests", "5"])
        defer { host.stop() }
        let first = Set(HostProcess.workerPids(try host.poolStatus()))
        // Twelve requests over two workers that each serve at most five: at least one recycle.
        for _ in 0..<12 { #expect(try host.request("GET", "/health").status == 200) }
        var status: [String: Any] = [:]
        try waitUntil("a recycle is counted", seconds: 20) {
            status = try host.poolStatus()
            return (status["recycles"] as? Int ?? 0) >= 1 && (status["totalWorkers"] as? Int) == 2
        }
        #expect((status["respawns"] as? Int ?? 0) >= 1)
        #expect(status["crashes"] as? Int == 0)
        #expect(!first.isSuperset(of: HostProcess.workerPids(status)))
        #expect((status["acceptedRequests"] as? Int ?? 0) >= 13)
    }

    @Test func sigtermLetsTheRequestInFlightFinish() throws {
        try Self.migrate()
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        let org = try Organizations.create(name: "fcgi-host sigterm \(UUID().uuidString.prefix(8))", connection: Connection(url: url))
        let queue = "fcgi-\(UUID().uuidString.prefix(12).lowercased())"
        let host = try HostProcess(workers: 2)
        defer { host.stop() }

        let enqueued = try host.request("POST", "/v1/jobs", key: org.key,
                                        body: #"{"kind":"fail","queue":"\#(queue)","payload":{"sleepMs":1500,"times":0}}"#)
        #expect(enqueued.status == 201)

        // The batch takes 1.5 s; SIGTERM arrives while it runs.
        let slow = try host.client()
        let body = Array(#"{"queues":["\#(queue)"],"maxJobs":1}"#.utf8)
        try slow.send(FCGIClient.requestRecords(id: 1, params: HostProcess.params("POST", "/v1/process-batch", key: HostProcess.processorKey, bodyLength: body.count),
                                                stdin: body))
        // In flight means the job runs: a worker merely busy with the request may not have claimed
        // it yet, and a batch told to stop before its claim rightly claims nothing.
        let db = try Connection(url: url)
        try waitUntil("the batch's job is running", seconds: 10) {
            try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE queue = \(queue) AND state = 'running'")[0].decode("n", as: Int.self) == 1
        }
        kill(host.pid, SIGTERM)

        let response = try slow.readResponse(id: 1)
        let http = try #require(response.http)
        #expect(http.status == 200)
        #expect(String(decoding: http.body, as: UTF8.self).contains(#""completed":1"#))
        try #require(host.waitForExit(seconds: 20))
        #expect(host.process.terminationReason == .exit)
        #expect(host.process.terminationStatus == 0)
        #expect(access(host.socketPath, F_OK) != 0, "the socket file is left behind")
        #expect(host.log.contains("stopped"))
    }

    @Test func cgiModeAnswersOneRequest() throws {
        try Self.migrate()
        let health = try CGIRun.run(["REQUEST_METHOD": "GET", "DOCUMENT_URI": "/health"])
        #expect(health.status == 0)
        #expect(health.response?.status == 200)

        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        let org = try Organizations.create(name: "fcgi-host cgi \(UUID().uuidString.prefix(8))", connection: Connection(url: url))
        let body = #"{"kind":"noop","queue":"cgi-\#(UUID().uuidString.prefix(8).lowercased())","payload":{"a":1}}"#
        let created = try CGIRun.run(["REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": "/v1/jobs", "HTTP_X_API_KEY": org.key,
                                      "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "\(body.utf8.count)"], stdin: body)
        #expect(created.response?.status == 201)
        let text = String(decoding: created.response?.body ?? [], as: UTF8.self)
        #expect(text.contains(#""state":"available""#))
    }
}
