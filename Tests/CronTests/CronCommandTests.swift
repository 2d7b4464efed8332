import Cron
import Testing

struct CronCommandTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var command: String
        var expected: CronCommand
        var testDescription: String { command }
    }

    static let cases: [Case] = [
        Case(command: "cron-driver once process-batch", expected: .callFunction(name: "process-batch", body: nil)),
        Case(command: #"cron-driver once process-batch '{"maxJobs":500,"maxSeconds":50}'"#,
             expected: .callFunction(name: "process-batch", body: #"{"maxJobs":500,"maxSeconds":50}"#)),
        Case(command: #"/usr/local/bin/cron-driver  once  health   "{\"a\": \"b c\"}""#,
             expected: .callFunction(name: "health", body: #"{"a": "b c"}"#)),
        Case(command: #"./cron-driver once x '{"s":"it'\''s"}'"#, expected: .callFunction(name: "x", body: #"{"s":"it's"}"#)),
        Case(command: #"cron-driver once x "a\b""#, expected: .callFunction(name: "x", body: #"a\b"#)),
        Case(command: "cron-driver once x ''", expected: .callFunction(name: "x", body: "")),
        // Anything the shell would do more with goes to the shell.
        Case(command: "cron-driver once process-batch >/dev/null 2>&1", expected: .shell("cron-driver once process-batch >/dev/null 2>&1")),
        Case(command: "cron-driver once process-batch; echo done", expected: .shell("cron-driver once process-batch; echo done")),
        Case(command: #"cron-driver once x "$BODY""#, expected: .shell(#"cron-driver once x "$BODY""#)),
        Case(command: #"cron-driver once x {"a":1,"b":2}"#, expected: .shell(#"cron-driver once x {"a":1,"b":2}"#)),
        Case(command: "A=1 cron-driver once x", expected: .shell("A=1 cron-driver once x")),
        Case(command: "cron-driver once --manifest f.json x", expected: .shell("cron-driver once --manifest f.json x")),
        Case(command: "cron-driver once x '{}' extra", expected: .shell("cron-driver once x '{}' extra")),
        Case(command: "cron-driver once x 'unterminated", expected: .shell("cron-driver once x 'unterminated")),
        Case(command: "cron-driver watch", expected: .shell("cron-driver watch")),
        Case(command: "my-cron-driver once x", expected: .shell("my-cron-driver once x")),
        Case(command: "echo hello", expected: .shell("echo hello")),
    ]

    @Test(arguments: cases)
    func classifies(_ c: Case) {
        #expect(CronCommand(c.command) == c.expected)
    }

    @Test func percentInputForcesTheShell() throws {
        let entry = try #require(try Crontab(parsing: "* * * * * cron-driver once x%input\n").entries.first)
        #expect(CronCommand(entry) == .shell("cron-driver once x"))
        #expect(CronCommand(entry).label == "cron-driver once x")
        #expect(CronCommand("cron-driver once x").label == "x")
    }
}
