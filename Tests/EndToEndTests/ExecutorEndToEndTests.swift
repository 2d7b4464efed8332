import Foundation
import Handlers
import JobQueue
import Postgres
import TestSupport
import Testing

/// The executor through nginx and fcgi-host: the three ways one tenant or job held up the rest
/// (each failed on the main before the executor), and a graceful stop. Each stack has a database
/// of its own, so process-batch may serve every queue without touching other suites' jobs.
@Suite struct ExecutorEndToEndTests {
    /// Enqueues `jobs` (JSON objects) in batches of 1,000 with the tenant's key.
    func enqueue(_ web: Web, _ tenant: Tenant, _ jobs: [String]) throws -> [Int64] {
        var ids: [Int64] = []
        for start in stride(from: 0, to: jobs.count, by: 1000) {
            let batch = jobs[start..<min(start + 1000, jobs.count)]
            let r = try web.call("POST", "/v1/jobs", body: #"{"jobs":[\#(batch.joined(separator: ","))]}"#, key: tenant.key, timeout: 60)
            try #require(r.status == 201, "\(r.status) \(r.text.prefix(300))")
            if case .array(let answers)? = r.json["jobs"] { ids += answers.compactMap { $0["id"]?.intValue } }
        }
        return ids
    }

    func state(_ db: Connection, _ id: Int64) throws -> (state: String, attempt: Int, errors: String) {
        let row = try db.query("SELECT state::text AS s, attempt::int AS a, errors::text AS e FROM conveyor_jobs WHERE id = \(id)")[0]
        return (try row.decode("s"), try row.decode("a"), try row.decode("e"))
    }

    /// Case 1: 20,000 delayed jobs, each in its own queue name, stopped every claim; now only
    /// due jobs are candidates, and another org's due job runs in the first invocation.
    @Test func delayedJobsInThousandsOfQueuesDelayNoOtherOrg() throws {
        let stack = try Stack(Stack.Options(ownDatabase: true))
        let web = try Web(stack.baseURL)
        let flood = try Tenant(databaseURL: stack.databaseURL), other = try Tenant(databaseURL: stack.databaseURL)
        _ = try enqueue(web, flood, (0..<20_000).map { #"{"kind":"noop","queue":"x\#($0 / 1000)-\#($0 % 1000)","delaySeconds":31536000}"# })
        let due = try enqueue(web, other, [#"{"kind":"noop","queue":"\#(other.queue)"}"#])[0]
        let answer = try web.call("POST", "/v1/process-batch", body: #"{"maxJobs":100,"maxSeconds":5}"#, key: Stack.processorKey)
        #expect(answer.status == 200)
        #expect(answer.json["claimed"] == 1 && answer.json["completed"] == 1, "\(answer.text)")
        let db = try Connection(url: stack.databaseURL)
        #expect(try state(db, due).state == "completed")
        let waiting: Int = try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE state = 'scheduled' AND attempt = 0")[0].decode("n")
        #expect(waiting == 20_000, "the delayed jobs wait, untouched")
    }

    /// Case 2: an org's slow jobs at priority 100 ran one after another past the budget while
    /// another org's job waited. Now they run at once, the other org's job runs beside them, and
    /// the invocation answers within its budget and the stated margin.
    @Test func slowJobsOfOneOrgDelayNoOtherOrgAndTheBudgetHolds() throws {
        let stack = try Stack(Stack.Options(ownDatabase: true))
        let web = try Web(stack.baseURL)
        let slow = try Tenant(databaseURL: stack.databaseURL), other = try Tenant(databaseURL: stack.databaseURL)
        let slowIds = try enqueue(web, slow, Array(repeating: #"{"kind":"fail","queue":"\#(slow.queue)","priority":100,"timeoutSeconds":4.5,"payload":{"sleepMs":4000,"times":0}}"#, count: 3))
        // A fourth that asks for the kind's full 30 s: no 5 s budget can start it, and the summary says so.
        let tooLong = try enqueue(web, slow, [#"{"kind":"fail","queue":"\#(slow.queue)","priority":100,"payload":{"sleepMs":4000,"times":0}}"#])[0]
        let quick = try enqueue(web, other, [#"{"kind":"noop","queue":"\#(other.queue)"}"#])[0]

        let started = Date()
        let answer = try web.call("POST", "/v1/process-batch", body: #"{"maxSeconds":5}"#, key: Stack.processorKey)
        let seconds = Date().timeIntervalSince(started)
        #expect(answer.status == 200)
        #expect(answer.json["completed"] == 4, "\(answer.text)")
        #expect(answer.json["maxRunning"] == 4)
        #expect(answer.json["tooLong"] == 1)
        #expect(seconds < 5 + Processor.answerMargin, "answered after \(seconds) s")
        let db = try Connection(url: stack.databaseURL)
        #expect(try state(db, quick).state == "completed")
        for id in slowIds { #expect(try state(db, id).state == "completed") }
        #expect(try state(db, tooLong) == ("available", 0, "[]"))
    }

    /// Case 3: a job that outlived its lease ran twice without any crash. Now an attempt ends at
    /// its deadline, which its lease covers: the job times out, retries, and is never rescued
    /// from under a live invocation.
    @Test func anAttemptEndsAtItsDeadlineAndIsNeverRescuedFromALiveInvocation() throws {
        let stack = try Stack(Stack.Options(ownDatabase: true))
        let web = try Web(stack.baseURL)
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let id = try enqueue(web, tenant, [#"{"kind":"fail","queue":"\#(tenant.queue)","timeoutSeconds":1,"payload":{"sleepMs":45000,"times":0}}"#])[0]
        let neverStarted = try enqueue(web, tenant, [#"{"kind":"fail","queue":"\#(tenant.queue)","priority":-1,"payload":{"sleepMs":45000,"times":0}}"#])[0]
        let db = try Connection(url: stack.databaseURL)

        let first = try web.call("POST", "/v1/process-batch", body: #"{"maxSeconds":2}"#, key: Stack.processorKey)
        #expect(first.json["timedOut"] == 1 && first.json["retried"] == 1 && first.json["lost"] == 0, "\(first.text)")
        #expect(first.json["tooLong"] == 1)
        var job = try state(db, id)
        #expect(job.attempt == 1 && job.errors.contains("timed out after 1 s"), "\(job)")
        // The retry comes due after the backoff; a second invocation runs attempt 2, and only it.
        try db.execute("UPDATE conveyor_jobs SET run_at = now() WHERE id = \(id)")
        let second = try web.call("POST", "/v1/process-batch", body: #"{"maxSeconds":2}"#, key: Stack.processorKey)
        #expect(second.json["timedOut"] == 1 && second.json["rescued"] == 0 && second.json["lost"] == 0, "\(second.text)")
        job = try state(db, id)
        #expect(job.attempt == 2)
        #expect(!job.errors.contains("lease expired"), "no attempt was rescued: \(job.errors)")
        #expect(try state(db, neverStarted) == ("available", 0, "[]"))
    }

    /// SIGTERM during a batch: no more claims, jobs not started go back without spending an
    /// attempt, running ones get the grace (the one that outlasts it is cut and goes back as
    /// interrupted), and after a restart nothing is left running.
    @Test func sigtermHandsBackWhatHasNotStartedAndLeavesNothingRunning() throws {
        let stack = try Stack(Stack.Options(workers: 2, grace: 4, ownDatabase: true))
        let web = try Web(stack.baseURL)
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let q = tenant.queue
        // Fast jobs first, so the pace makes the next claim take everything; then four slow jobs,
        // then twenty that wait for a free slot when the signal comes.
        _ = try enqueue(web, tenant, Array(repeating: #"{"kind":"noop","queue":"\#(q)","priority":100}"#, count: 10))
        let finishing = try enqueue(web, tenant, Array(repeating: #"{"kind":"fail","queue":"\#(q)","priority":50,"timeoutSeconds":5,"payload":{"sleepMs":1000,"times":0}}"#, count: 3))
        let cut = try enqueue(web, tenant, [#"{"kind":"fail","queue":"\#(q)","priority":50,"timeoutSeconds":10,"payload":{"sleepMs":8000,"times":0}}"#])[0]
        let waiting = try enqueue(web, tenant, Array(repeating: #"{"kind":"noop","queue":"\#(q)"}"#, count: 20))

        let answer = Box<Web.Answer>()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            answer.value = try? Web(stack.baseURL).call("POST", "/v1/process-batch", body: #"{"maxSeconds":30,"parallelism":4}"#,
                                                        key: Stack.processorKey, timeout: 30)
            done.signal()
        }
        usleep(500_000)
        let master = try #require(stack.fcgiHost)
        master.terminate()
        done.wait()
        master.waitUntilExit()
        let summary = try #require(answer.value, "no answer\n\(stack.log("fcgi-host.log"))")
        #expect(summary.status == 200, "\(summary.text)")
        #expect(summary.json["released"] == 20, "\(summary.text)")

        let db = try Connection(url: stack.databaseURL)
        for id in finishing { #expect(try state(db, id).state == "completed") }
        let interrupted = try state(db, cut)
        #expect(interrupted.state == "available" && interrupted.attempt == 1 && interrupted.errors.contains("interrupted"), "\(interrupted)")
        for id in waiting { #expect(try state(db, id) == ("available", 0, "[]")) }
        let running: Int = try db.query("SELECT count(*)::int AS n FROM conveyor_jobs WHERE state = 'running'")[0].decode("n")
        #expect(running == 0)

        // Restarted, the pool runs what was handed back.
        try stack.restartFcgiHost(Stack.Options(workers: 2))
        // nginx may still hold a kept-alive connection to the stopped pool: the first call can meet
        // it and be answered 503 "not answering", which a client retries. Nothing ran then.
        var again = try web.call("POST", "/v1/process-batch", body: #"{"maxSeconds":15}"#, key: Stack.processorKey, timeout: 30)
        for _ in 0..<3 where again.status == 503 {
            usleep(200_000)
            again = try web.call("POST", "/v1/process-batch", body: #"{"maxSeconds":15}"#, key: Stack.processorKey, timeout: 30)
        }
        #expect(again.json["completed"] == 21, "\(again.text)")
    }

    /// A long poll occupies a worker for its whole wait. It runs in fcgi-host's batch pool, so
    /// requests nginx sends on its kept connections to the main pool are answered meanwhile, not
    /// after it: every one of them is answered while the long poll is still out.
    @Test func aLongPollHoldsUpNoOtherRequest() throws {
        let stack = try Stack(Stack.Options(workers: 2))
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        let id = try enqueue(web, tenant, [#"{"kind":"noop","queue":"\#(tenant.queue)","delaySeconds":3600}"#])[0]
        // Four clients at once, before and during the long poll, so nginx keeps several
        // connections to each worker of the main pool; the long poll goes out on one of them.
        let answered = Tally()
        func clients(_ requests: Int) {
            let group = DispatchGroup()
            for _ in 0..<4 {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    guard let web = try? Web(stack.baseURL) else { return }
                    for _ in 0..<requests {
                        answered.add((try? web.call("GET", "/v1/jobs/\(id)", key: tenant.key, timeout: 60))?.status ?? -1)
                    }
                }
            }
            group.wait()
        }
        clients(20)
        let pollDone = Flag()
        let poll = Box<Web.Answer>()
        Thread.detachNewThread {
            defer { pollDone.set() }
            poll.value = try? Web(stack.baseURL).call("POST", "/v1/process-batch",
                                                      body: #"{"queues":["\#(tenant.queue)"],"maxSeconds":30,"waitSeconds":20}"#,
                                                      key: Stack.processorKey, timeout: 60)
        }
        Thread.sleep(forTimeInterval: 1)
        clients(50)
        #expect(!pollDone.isSet, "the long poll answered before the other requests were served")
        #expect(answered.histogram == [200: 280], "\(answered.histogram)")
        while !pollDone.isSet { usleep(50_000) }
        #expect(poll.value?.status == 200, "\(poll.value?.text ?? "no answer")")
        #expect(poll.value?.json["claimed"] == 0)
    }
}
