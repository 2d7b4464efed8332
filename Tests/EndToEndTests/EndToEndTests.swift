import Foundation
import Handlers
import Postgres
import JobQueue
import TestSupport
import Testing

/// The deployment users run — nginx, fcgi-host, fcgiwrap, cron-driver, PostgreSQL — driven over HTTP.
@Suite(.serialized)
struct EndToEndTests {
    @Test func enqueueProcessThenStatusThroughNginx() throws {
        let stack = try Stack()
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        let created = try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)","payload":{"via":"nginx"}}"#, key: tenant.key)
        #expect(created.status == 201, "\(created.text)\n\(stack.log("fcgi-host.log"))")
        let id = try #require(created.json["id"]?.intValue)

        let batch = try web.call("POST", "/v1/process-batch", body: #"{"queues":["\#(tenant.queue)"]}"#, key: Stack.processorKey)
        #expect(batch.status == 200)
        #expect(batch.json["completed"] == .int(1))

        // Bearer works through nginx too (the Vercel-cron convention).
        let status = try web.call("GET", "/v1/jobs/\(id)", headers: [("authorization", "Bearer \(tenant.key)")])
        #expect(status.status == 200)
        #expect(status.json["state"] == .string("completed"))
        #expect(status.json["result"] == .object(["via": .string("nginx")]))
    }

    @Test func errorsKeepTheEnvelopeThroughNginx() throws {
        let stack = try Stack()
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        let cases: [(String, String, String?, String?, Int, String)] = [
            ("POST", "/v1/jobs", #"{"kind":"noop"}"#, "cvk_wrong", 401, "unauthorized"),
            ("POST", "/v1/jobs", #"{"kind":"noop"}"#, nil, 401, "unauthorized"),
            ("POST", "/v1/process-batch", "{}", tenant.key, 403, "forbidden"),
            ("GET", "/v1/no-such-function", nil, tenant.key, 404, "not_found"),
            ("DELETE", "/v1/jobs", nil, tenant.key, 405, "method_not_allowed"),
            // Over nginx's limit for the location: nginx answers, in the envelope.
            ("POST", "/v1/process-batch", "{" + String(repeating: " ", count: 8000) + "}", Stack.processorKey, 413, "payload_too_large"),
            ("POST", "/v1/jobs", #"{"kind":"noop","payload":{"x":""# + String(repeating: "x", count: 9 << 20) + "\"}}", tenant.key, 413, "payload_too_large"),
            // Within nginx's limit but over the function's (none): fcgi-host answers before reading it.
            ("GET", "/health", String(repeating: "x", count: 600), nil, 413, "payload_too_large"),
            ("POST", "/v1/jobs", "{not json", tenant.key, 400, "invalid_json"),
        ]
        for (method, path, body, key, status, code) in cases {
            let answer = try web.call(method, path, body: body, key: key)
            #expect(answer.status == status, "\(method) \(path): \(answer.text.prefix(300))")
            #expect(answer.errorCode == code, "\(method) \(path): \(answer.text.prefix(300))")
        }
        let notAllowed = try web.call("DELETE", "/v1/jobs", key: tenant.key)
        #expect(notAllowed.headers.contains { $0.0.lowercased() == "allow" && $0.1.contains("POST") })
    }

    @Test func keepAliveReuseOver1000SequentialRequests() throws {
        let stack = try Stack()
        let web = try Web(stack.baseURL)
        let before = try web.call("GET", "/v1/pool/status", key: Stack.adminKey).json
        for i in 0..<1000 {
            let r = try web.call("GET", "/health")
            if r.status != 200 {
                Issue.record("request \(i): \(r.status) \(r.text)")
                break
            }
        }
        let after = try web.call("GET", "/v1/pool/status", key: Stack.adminKey).json
        let requests = (after["acceptedRequests"]?.intValue ?? 0) - (before["acceptedRequests"]?.intValue ?? 0)
        let connections = (after["acceptedConnections"]?.intValue ?? 0) - (before["acceptedConnections"]?.intValue ?? 0)
        #expect(requests >= 1000)
        // nginx kept its upstream connections open: a handful of connections carried 1,000 requests.
        #expect(connections <= 4, "fcgi-host accepted \(connections) connections for \(requests) requests")
    }

    @Test func twoHundredConcurrentRequestsAllGetAnswers() throws {
        let stack = try Stack(Stack.Options(workers: 4))
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let statuses = Tally()
        let group = DispatchGroup()
        for i in 0..<200 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let web = try Web(stack.baseURL)
                    let r = i % 2 == 0
                        ? try web.call("GET", "/health")
                        : try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key)
                    statuses.add(r.status)
                } catch {
                    statuses.add(-1)
                }
            }
        }
        group.wait()
        #expect(statuses.values.count == 200)
        #expect(statuses.values.allSatisfy { $0 == 200 || $0 == 201 }, "\(statuses.histogram)")
    }

    @Test func aKilledWorkerIsReplacedAndRequestsKeepSucceeding() throws {
        let stack = try Stack(Stack.Options(workers: 2))
        let admin = try Web(stack.baseURL)
        let pool = try admin.call("GET", "/v1/pool/status", key: Stack.adminKey).json
        // Every worker of both pools; slot 0, the victim, is in the main one.
        let workerCount = Self.workerPids(pool).count
        let victim = try #require(Self.workerPids(pool).first)
        let respawnsBefore = pool["respawns"]?.intValue ?? 0

        let failures = Tally()
        let stopLoad = Flag()
        let replacedAt = Flag()
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                guard let web = try? Web(stack.baseURL) else { return }
                while !stopLoad.isSet {
                    let ok = (try? web.call("GET", "/health").status) == 200
                    if !ok && replacedAt.isSet { failures.add(1) }
                }
            }
        }
        usleep(300_000)
        kill(pid_t(victim), SIGKILL)
        var replaced = false
        for _ in 0..<100 where !replaced {
            usleep(50_000)
            let now = try admin.call("GET", "/v1/pool/status", key: Stack.adminKey).json
            let pids = Self.workerPids(now)
            replaced = pids.count == workerCount && !pids.contains(victim) && (now["respawns"]?.intValue ?? 0) > respawnsBefore
        }
        #expect(replaced, "the master did not replace worker \(victim)\n\(stack.log("fcgi-host.log"))")
        replacedAt.set()
        usleep(1_000_000)
        stopLoad.set()
        group.wait()
        #expect(failures.values.isEmpty, "\(failures.values.count) requests failed after the replacement")
    }

    @Test func sigtermLetsInFlightRequestsFinish() throws {
        let stack = try Stack(Stack.Options(workers: 2, grace: 20))
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        _ = try web.call("POST", "/v1/jobs", body: #"{"kind":"fail","queue":"\#(tenant.queue)","payload":{"times":0,"sleepMs":2000}}"#, key: tenant.key)
        let answer = Box<Web.Answer>()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { done.signal() }
            answer.value = try? Web(stack.baseURL).call("POST", "/v1/process-batch", body: #"{"queues":["\#(tenant.queue)"]}"#, key: Stack.processorKey)
        }
        usleep(700_000)
        let master = try #require(stack.fcgiHost)
        master.terminate()
        done.wait()
        #expect(answer.value?.status == 200, "\(answer.value?.text ?? "no answer")\n\(stack.log("fcgi-host.log"))")
        #expect(answer.value?.json["completed"] == .int(1))
        // The job really was in flight when SIGTERM arrived: it slept 2 s, the signal came at 0.7 s.
        #expect((answer.value?.json["durationMs"]?.intValue ?? 0) >= 1900)
        master.waitUntilExit()
        #expect(master.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: stack.fcgiSocket))
    }

    /// `cron-driver watch` runs a new job without anyone calling process-batch. How fast is a
    /// number for bench/http (pickup latency), not a threshold here.
    @Test func watchPicksUpANewJob() throws {
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        // The tenant (and the queue the watcher serves) before the stack: migrate first.
        try ConveyorSchema.migrate(Connection(url: url))
        let tenant = try Tenant(databaseURL: url)
        let stack = try Stack(Stack.Options(workers: 2, watch: true, watchQueues: [tenant.queue]))
        let web = try Web(stack.baseURL)
        usleep(500_000)  // let the watcher connect and LISTEN
        let created = try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key)
        let id = try #require(created.json["id"]?.intValue)
        let until = Date().addingTimeInterval(20)
        var state = ""
        while Date() < until && state != "completed" {
            state = try web.call("GET", "/v1/jobs/\(id)", key: tenant.key).json["state"]?.stringValue ?? ""
            if state != "completed" { usleep(20_000) }
        }
        #expect(state == "completed", "\(stack.log("cron-driver.log"))")
    }

    @Test func cgiModeThroughFcgiwrap() throws {
        let stack = try Stack(Stack.Options(cgi: true))
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.cgiURL)
        let health = try web.call("GET", "/health")
        #expect(health.status == 200, "\(health.text)\n\(stack.log("fcgiwrap.log"))\n\(stack.log("nginx-error.log"))")
        let created = try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key)
        #expect(created.status == 201)
        let id = try #require(created.json["id"]?.intValue)
        #expect(try web.call("GET", "/v1/jobs/\(id)", key: tenant.key).json["state"] == .string("available"))
        #expect(try web.call("GET", "/v1/jobs/\(id)", key: "cvk_nope").status == 401)
        #expect(try web.call("PUT", "/health").status == 405)
    }

    static func workerPids(_ pool: JSONValue) -> [Int64] {
        guard case .array(let workers)? = pool["workers"] else { return [] }
        return workers.compactMap { $0["pid"]?.intValue }
    }
}

/// Thread-safe collections for the load threads.
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [Int] = []
    func add(_ v: Int) { lock.lock(); list.append(v); lock.unlock() }
    var values: [Int] { lock.lock(); defer { lock.unlock() }; return list }
    var histogram: [Int: Int] { Dictionary(values.map { ($0, 1) }, uniquingKeysWith: +) }
}

/// Values several threads add to, in one locked step each (a read, then a write, of a `Box`
/// would lose an update when two threads interleave).
final class Collected<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [T] = []
    func add(_ v: T) { lock.lock(); list.append(v); lock.unlock() }
    var values: [T] { lock.lock(); defer { lock.unlock() }; return list }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
