import Foundation
import Testing

/// `cron-driver run` as a real process. The minute-by-minute behaviour is covered with a fake
/// clock in CronTests; here the hidden `--fire-current-minute` flag fires `* * * * *` entries at
/// once, so a test need not wait for the next minute.
struct RunTests {
    static let key = "cron-run-test-key-\(UUID().uuidString.prefix(8))"

    func startRun(_ crontab: String, in dir: URL, extra: [String] = []) throws -> Child {
        let file = dir.appendingPathComponent("crontab")
        try crontab.write(to: file, atomically: true, encoding: .utf8)
        return try Child(DriverHarness.binary, ["run", "--crontab", file.path] + extra,
                         environment: DriverHarness.environment(["CONVEYOR_PROCESSOR_KEY": Self.key]), directory: dir, label: "run")
    }

    @Test func firesInProcessCallsAndShellCommandsThenStopsOnSIGTERM() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let recorder = try await HTTPRecorder(directory: dir, respond: [#"/v1/process-batch=200:{"claimed":0}"#])
        defer { recorder.stop() }
        let marker = dir.appendingPathComponent("shell.out")
        let run = try startRun("""
            # the URL comes from the crontab, the key from the environment
            CONVEYOR_URL=\(recorder.url)
            GREETING = "hello from cron"
            * * * * * /usr/local/bin/cron-driver once process-batch '{"maxJobs":3}'
            * * * * * echo "$GREETING" >> \(marker.path)

            """, in: dir, extra: ["--fire-current-minute"])
        defer { run.stop() }

        #expect(await DriverHarness.eventually(timeout: 20) { !recorder.requests.isEmpty && FileManager.default.fileExists(atPath: marker.path) },
                "\(run.stderr)")
        let request = try #require(recorder.requests.first)
        #expect(request.method == "POST" && request.path == "/v1/process-batch")
        #expect(request.body == #"{"maxJobs":3}"#)
        #expect(request.headers["x-api-key"] == Self.key)
        #expect(try String(contentsOf: marker, encoding: .utf8).hasPrefix("hello from cron\n"))

        // Each firing is one log line: line number, what ran, the outcome, the duration.
        #expect(await DriverHarness.eventually(timeout: 10) {
            run.stderr.range(of: #"line 4 process-batch: HTTP 200 in \d+ ms"#, options: .regularExpression) != nil
                && run.stderr.range(of: #"line 5 echo "\$GREETING" >> \S+: exit 0 in \d+ ms"#, options: .regularExpression) != nil
        }, "\(run.stderr)")

        #expect(await run.terminate() == 0)
        #expect(run.stderr.contains("stopped"))
        #expect(!run.stderr.contains(Self.key))
    }

    @Test func sigtermWaitsForARunningEntry() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let started = dir.appendingPathComponent("started"), finished = dir.appendingPathComponent("finished")
        let run = try startRun("* * * * * touch \(started.path); sleep 1; touch \(finished.path)\n", in: dir, extra: ["--fire-current-minute"])
        defer { run.stop() }
        #expect(await DriverHarness.eventually(timeout: 20) { FileManager.default.fileExists(atPath: started.path) }, "\(run.stderr)")
        #expect(await run.terminate(timeout: 20) == 0)
        // It exited only after the entry ended.
        #expect(FileManager.default.fileExists(atPath: finished.path))
        #expect(run.stderr.range(of: #"line 1 touch .*: exit 0 in \d+ ms"#, options: .regularExpression) != nil, "\(run.stderr)")
    }

    @Test func aBadCrontabIsOneLineNamingTheLine() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try startRun("# fine\n*/5 * * * 9 echo\n", in: dir)
        #expect(await run.wait(timeout: 30) == 2)
        #expect(run.stderr == "cron-driver: \(dir.path)/crontab: line 2: day-of-week: 9 is out of range 0-7 in \"9\"\n")
    }

    @Test func anInProcessEntryNeedsTheURL() async throws {
        let dir = try DriverHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = try startRun("PATH=/usr/bin:/bin\n\n*/5 * * * * cron-driver once process-batch\n", in: dir)
        #expect(await run.wait(timeout: 30) == 2)
        #expect(run.stderr == "cron-driver: \(dir.path)/crontab line 3: CONVEYOR_URL is not set\n")
    }
}
