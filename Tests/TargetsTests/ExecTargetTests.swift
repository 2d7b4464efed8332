import Foundation
import JobQueue
import Postgres
@testable import Targets
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Local programs as job kinds: the shell scripts of Tests/Fixtures/jobs, run for real.
@Suite struct ExecTargetTests {
    static let jobs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/jobs")

    static func target(_ name: String, _ arguments: [String] = [], maxResultBytes: Int = HTTPTarget.defaultMaxResultBytes) -> ExecTarget {
        ExecTarget(path: jobs.appendingPathComponent(name).path, arguments: arguments, maxResultBytes: maxResultBytes)
    }

    static func run(_ target: ExecTarget, seconds: Double = 20, payload: String = #"{"n": 1}"#) async -> Result<String, any Error> {
        let job = ClaimedJob(id: 777, orgId: 9, queue: "programs", kind: "thumbnail", priority: 0, runAt: Date(),
                             attempt: 2, maxAttempts: 5, payload: PostgresJSON(text: payload))
        do {
            return .success(try await target.run(JobContext.standalone(job, seconds: seconds)))
        } catch {
            return .failure(error)
        }
    }

    static func temporaryFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("exec-\(UUID().uuidString)").path
    }

    /// True while `pid` runs (a zombie does not count), given 5 s to die: SIGKILL is quick,
    /// not instant, and init reaps the orphans.
    static func alive(_ pid: Int32) -> Bool {
        let until = Date().addingTimeInterval(5)
        while Date() < until {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            if stat.split(separator: ")").last?.split(separator: " ").first == "Z" { return false }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return true
    }

    @Test func thePayloadGoesInAndTheOutputIsTheResult() async throws {
        setenv("CONVEYOR_TEST_HOST_SECRET", "must-not-leak", 1)
        let result = try await Self.run(Self.target("echo-job"), payload: #"{"image": "a.png", "sizes": [1, 2]}"#).get()
        let json = try JSONValue.parse(result)
        #expect(json["input"] == (try JSONValue.parse(#"{"image": "a.png", "sizes": [1, 2]}"#)))
        #expect(json["job"] == .string("777"))
        #expect(json["attempt"] == .string("2"))
        #expect(json["org"] == .string("9"))
        #expect(json["kind"] == .string("thumbnail"))
        #expect(json["otherVariables"] == .int(0), "nothing of the host's environment reaches the program")
    }

    @Test func exit75IsRetriedAndOtherStatusesDeadLetterWithTheTailOfStandardError() async throws {
        let retry = try #require(await Self.run(Self.target("exit-with", ["the disk is busy", "75"])).failure as? JobFailure)
        #expect(retry.retryable)
        #expect(retry.message.contains("exit 75") && retry.message.contains("the disk is busy"), "\(retry)")

        let dead = try #require(await Self.run(Self.target("exit-with", ["bad input: width", "3"])).failure as? JobFailure)
        #expect(!dead.retryable)
        #expect(dead.message.contains("status 3") && dead.message.contains("bad input: width"), "\(dead)")
    }

    @Test func aFloodIsCutAtTheCapAndSaysSo() async throws {
        let result = try await Self.run(Self.target("flood", ["5000000"], maxResultBytes: 1000)).get()
        let json = try JSONValue.parse(result)
        #expect(json["truncated"] == .bool(true))
        #expect(json["limitBytes"] == .int(1000))
        #expect(json["body"]?.stringValue == String(repeating: "z", count: 1000))
    }

    @Test func aChildLeftBehindIsKilledAndDoesNotHoldTheAttempt() async throws {
        let pidFile = Self.temporaryFile()
        defer { unlink(pidFile) }
        let result = try await Self.run(Self.target("linger", [pidFile])).get()
        #expect(try JSONValue.parse(result) == .object(["done": .bool(true)]))
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!Self.alive(pid), "the lingering child went with its group")
    }

    @Test func theDeadlineKillsTheWholeGroup() async throws {
        let pidFile = Self.temporaryFile()
        defer { unlink(pidFile) }
        // Long enough for a loaded machine to start the shell and let it write its pids.
        let outcome = await Self.run(Self.target("hang", [pidFile]), seconds: 3)
        #expect(outcome.failure is CancellationError, "the engine records a time-out: \(outcome)")
        let pids = try String(contentsOfFile: pidFile, encoding: .utf8).split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(pids.count == 2)
        for pid in pids { #expect(!Self.alive(pid)) }
    }

    /// The awaiting path (`run(_:)`): cancelling its task kills the program's group. The task
    /// runs on Conveyor's own job threads and the test waits on a plain semaphore, so neither
    /// depends on the cooperative pool, which the suite's blocking tests may hold for minutes.
    @Test func cancellingTheTaskKillsTheProgram() throws {
        let pidFile = Self.temporaryFile()
        defer { unlink(pidFile) }
        let target = Self.target("hang", [pidFile])
        let task = Task(executorPreference: JobThreads.shared) { await Self.run(target, seconds: 600) }
        let started = Date().addingTimeInterval(120)
        while (try? String(contentsOfFile: pidFile, encoding: .utf8))?.contains(" ") != true, Date() < started {
            Thread.sleep(forTimeInterval: 0.02)
        }
        try #require((try? String(contentsOfFile: pidFile, encoding: .utf8))?.contains(" ") == true, "the program never started")
        task.cancel()
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<String, any Error>?>(nil)
        Task(executorPreference: JobThreads.shared) {
            let value = await task.value
            outcome.withLock { $0 = value }
            finished.signal()
        }
        #expect(finished.wait(timeout: .now() + 60) == .success)
        let result = try #require(outcome.withLock { $0 })
        #expect(result.failure is CancellationError, "\(result)")
        let pids = try String(contentsOfFile: pidFile, encoding: .utf8).split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        for pid in pids { #expect(!Self.alive(pid)) }
    }

    @Test func killedBySomeoneElseIsRetried() async throws {
        let failure = try #require(await Self.run(Self.target("self-kill")).failure as? JobFailure)
        #expect(failure.retryable)
        #expect(failure.message.contains("signal 9"), "\(failure)")
    }

    @Test func aMissingProgramDeadLetters() async throws {
        let failure = try #require(await Self.run(ExecTarget(path: "/nonexistent/program")).failure as? JobFailure)
        #expect(!failure.retryable)
        #expect(failure.message.contains("could not start"), "\(failure)")
    }
}
