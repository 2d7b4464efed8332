import Cron
import Foundation
import Testing

struct CrontabTests {
    @Test func parsesCommentsEnvironmentAndEntriesWithLineNumbers() throws {
        let text = """
            # a comment
               # an indented comment

            SHELL=/bin/sh
            MAILTO = "ops@example.org"
            GREETING='hello world'
            */5 * * * * cron-driver once process-batch '{"maxJobs":500}'
            \t@daily\t/usr/bin/find /tmp -mtime +7 -delete
            PATH=/usr/local/bin:/usr/bin:/bin
            0 0 * * 0 echo 100\\% done%line one%line two\r

            """
        let tab = try Crontab(parsing: text)
        #expect(tab.entries.map(\.line) == [7, 8, 10])
        #expect(tab.environment == ["SHELL": "/bin/sh", "MAILTO": "ops@example.org", "GREETING": "hello world",
                                    "PATH": "/usr/local/bin:/usr/bin:/bin"])

        let first = tab.entries[0]
        #expect(first.schedule == (try CronSchedule(parsing: "*/5 * * * *")))
        #expect(first.command == #"cron-driver once process-batch '{"maxJobs":500}'"#)
        #expect(first.standardInput == nil)
        // Settings apply to the entries below them only, as in Vixie cron.
        #expect(first.environment["PATH"] == nil)
        #expect(first.environment["GREETING"] == "hello world")

        #expect(tab.entries[1].schedule.text == "@daily")
        #expect(tab.entries[1].command == "/usr/bin/find /tmp -mtime +7 -delete")

        let last = tab.entries[2]
        #expect(last.command == "echo 100% done")
        #expect(last.standardInput == "line one\nline two")
        #expect(last.environment["PATH"] == "/usr/local/bin:/usr/bin:/bin")
    }

    @Test func emptyAndCommentOnlyCrontabsHaveNoEntries() throws {
        #expect(try Crontab(parsing: "").entries.isEmpty)
        #expect(try Crontab(parsing: "# nothing\n\n").entries.isEmpty)
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        var text: String
        var line: Int
        var code: CronError.Code
        var mentions: String
        var testDescription: String { String(reflecting: text) }
    }

    static let badCases: [BadCase] = [
        BadCase(text: "# ok\n\n61 * * * * echo", line: 3, code: .outOfRange, mentions: "minute"),
        BadCase(text: "* * * * *\n", line: 1, code: .missingCommand, mentions: "no command"),
        BadCase(text: "@hourly   \n", line: 1, code: .missingCommand, mentions: "@hourly"),
        BadCase(text: "A=1\nhello world\n", line: 2, code: .invalidLine, mentions: "hello world"),
        BadCase(text: "* * * * MONDAY echo\n", line: 1, code: .invalidValue, mentions: "day-of-week"),
        BadCase(text: "@reboot cron-driver watch\n", line: 1, code: .unsupportedMacro, mentions: "@reboot"),
        BadCase(text: "\n\n\n0 0 31 FEBRUARY * true\n", line: 4, code: .invalidValue, mentions: "month"),
    ]

    @Test(arguments: badCases)
    func errorsNameTheLine(_ c: BadCase) {
        #expect {
            _ = try Crontab(parsing: c.text)
        } throws: { error in
            guard let error = error as? CronError else { return false }
            return error.line == c.line && error.code == c.code && error.message.contains(c.mentions)
                && error.description.hasPrefix("line \(c.line): ")
        }
    }

    /// The repository's own crontab is read by `cron-driver run` and by the system cron alike.
    @Test func repositoryCrontabParsesHereAndWithSystemCron() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = root.appendingPathComponent("crontab")
        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(text.hasSuffix("\n"), "cron refuses a crontab without a trailing newline")

        let tab = try Crontab(parsing: text)
        #expect(tab.environment["PATH"] == "/usr/local/bin:/usr/bin:/bin")
        let batch = try #require(tab.entries.first { CronCommand($0) == .callFunction(name: "process-batch", body: #"{"maxJobs":500,"maxSeconds":50}"#) })
        #expect(batch.schedule == (try CronSchedule(parsing: "*/5 * * * *")))

        // `crontab -n` checks the syntax and installs nothing.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/crontab")
        process.arguments = ["-n", file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "crontab -n: \(said)")
    }
}
