import Foundation
import Testing

/// Runs the real `local-host` binary, as scripts and the README do.
struct LocalHostTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary sits beside the test bundle in the build folder.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("local-host")
    }

    static func run(_ args: [String], stdin: String? = nil, environment: [String: String]? = nil) throws -> Run {
        let process = Process()
        process.executableURL = binary
        process.arguments = args
        process.currentDirectoryURL = repoRoot
        var env = environment ?? ProcessInfo.processInfo.environment
        env["CONVEYOR_PROCESSOR_KEY"] = env["CONVEYOR_PROCESSOR_KEY"] ?? "local-host-test-processor-key"
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func migrateCreateOrgInvokeRoundTrip() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "local-host not built at \(Self.binary.path)")
        #expect(try Self.run(["migrate"]).status == 0)
        #expect(try Self.run(["migrate"]).stdout.contains("up to date"))

        let org = try Self.run(["create-org", "CLI Test Org", "--quiet"])
        #expect(org.status == 0)
        let key = org.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.hasPrefix("cvk_") && key.count == 68)

        let queue = "cli-\(UUID().uuidString.prefix(8).lowercased())"
        // The key comes from a file or standard input, never from argv where ps would show it.
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)")
        try (key + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: keyFile) }
        let enqueued = try Self.run(["invoke", "enqueue", "--key-file", keyFile.path, "--body", #"{"kind":"noop","queue":"\#(queue)","payload":{"x":1}}"#])
        #expect(enqueued.status == 0)
        #expect(enqueued.stderr.contains("HTTP 201"))
        let json = try JSONSerialization.jsonObject(with: Data(enqueued.stdout.utf8)) as? [String: Any]
        let id = try #require(json?["id"] as? Int)

        // The body can come from standard input.
        let processed = try Self.run(["invoke", "process-batch", "--key-from-env", "CONVEYOR_PROCESSOR_KEY"], stdin: #"{"queues":["\#(queue)"]}"#)
        #expect(processed.status == 0)
        #expect(processed.stdout.contains(#""completed":1"#))

        let status = try Self.run(["invoke", "job-status", "--key-file", "-", "--param", "id=\(id)", "--body", ""], stdin: key + "\n")
        #expect(status.status == 0)
        #expect(status.stdout.contains(#""state":"completed""#))
        #expect(status.stdout.contains(#""result":{"x":1}"#))
    }

    @Test func non2xxExitsNonZeroWithTheEnvelope() throws {
        #expect(try Self.run(["migrate"]).status == 0)
        let r = try Self.run(["invoke", "enqueue", "--key-file", "-", "--body", #"{"kind":"noop"}"#], stdin: "cvk_wrong\n")
        #expect(r.status == 1)
        #expect(r.stderr.contains("HTTP 401"))
        #expect(r.stdout.contains(#""code":"unauthorized""#))
    }

    @Test func configurationErrorsAreOneLine() throws {
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = nil
        let r = try Self.run(["migrate"], environment: env)
        #expect(r.status == 2)
        #expect(r.stderr == "local-host: DATABASE_URL is not set\n")

        let unknown = try Self.run(["invoke", "no-such-function"])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.hasPrefix("local-host: no function named no-such-function"))
        #expect(unknown.stderr.split(separator: "\n").count == 1)
    }

    /// Rotation with a grace, revocation, and the list, as an operator runs them.
    @Test func orgsRotateKeyAndRevokeKey() throws {
        #expect(try Self.run(["migrate"]).status == 0)
        let name = "Rotate \(UUID().uuidString.prefix(8))"
        let first = try Self.run(["create-org", name, "--quiet"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        func works(_ key: String) throws -> Bool {
            try Self.run(["invoke", "list-jobs", "--key-file", "-", "--body", ""], stdin: key + "\n").status == 0
        }
        #expect(try works(first))

        let rotated = try Self.run(["rotate-key", name, "--grace-seconds", "3600", "--quiet"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let second = rotated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(second.hasPrefix("cvk_") && second != first)
        #expect(try works(first), "the old key works through its grace")
        #expect(try works(second))
        let listed = try Self.run(["orgs"]).stdout.split(separator: "\n").first { $0.contains("\t\(name)\t") }
        let columns = try #require(listed).split(separator: "\t")
        #expect(columns[2] == "1" && columns[3] == "1", "one key active, one ending: \(columns)")
        #expect(!(try Self.run(["orgs"]).stdout.contains("cvk_")), "the list never shows keys")

        let now = try Self.run(["rotate-key", name, "--grace-seconds", "0", "--quiet"])
        let third = now.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try !works(first) && !works(second), "a rotation without grace stops the old keys now")
        #expect(try works(third))

        let revoked = try Self.run(["revoke-key", name])
        #expect(revoked.status == 0)
        #expect(revoked.stdout.hasSuffix("1 key revoked\n"), "\(revoked.stdout)")
        #expect(try !works(third))
        let unknown = try Self.run(["rotate-key", "no such org \(UUID())"])
        #expect(unknown.status == 2 && unknown.stderr.hasPrefix("local-host: no organization"))
    }
}
