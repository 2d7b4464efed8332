import Foundation
import Testing

/// Paths and helpers shared by the cron-driver tests, which run the real binary.
enum DriverHarness {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary sits beside the test bundle in the build folder.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cron-driver")
    }

    /// A fresh directory under /tmp, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let url = URL(fileURLWithPath: "/tmp").appendingPathComponent("cron-driver-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The environment for the driver: this process's, minus the driver's own variables, plus `extra`.
    static func environment(_ extra: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for name in ["CONVEYOR_URL", "CONVEYOR_PROCESSOR_KEY", "CONVEYOR_TENANT_KEY", "CONVEYOR_QUEUES", "CONVEYOR_MANIFEST"] { env[name] = nil }
        env["CONVEYOR_MANIFEST"] = repoRoot.appendingPathComponent("functions.json").path
        return env.merging(extra) { $1 }
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddress in
                bind(fd, sockaddress, length) == 0 && getsockname(fd, sockaddress, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` seconds pass. Suspends rather
    /// than blocks between polls: the test pool has only a couple of threads.
    static func eventually(timeout: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while Date() < deadline {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try condition()
    }
}

/// A child process whose output goes to files; stopped (TERM, then KILL) when released.
final class Child: @unchecked Sendable {
    let process = Process()
    let stdoutFile: URL
    let stderrFile: URL

    init(_ executable: URL, _ arguments: [String], environment: [String: String], directory: URL, label: String) throws {
        stdoutFile = directory.appendingPathComponent("\(label).out")
        stderrFile = directory.appendingPathComponent("\(label).err")
        _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        try process.run()
    }

    var stdout: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// Waits up to `timeout` seconds for the process to end; returns its status, or nil if it still runs.
    func wait(timeout: Double) async -> Int32? {
        guard await DriverHarness.eventually(timeout: timeout, { exitStatus() != nil }) else { return nil }
        return exitStatus()
    }

    /// The exit status once the child has ended, else nil. Foundation learns of the exit on a
    /// dispatch queue that a loaded machine can hold up for minutes (a fresh clone's full run saw
    /// a driver that had printed its error and exited still "running" 160 s later), so the kernel
    /// is asked directly: waitid with WNOWAIT reads a zombie's status without reaping it.
    func exitStatus() -> Int32? {
        if !process.isRunning { return process.terminationStatus }
        var info = siginfo_t()
        guard waitid(P_PID, id_t(process.processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
              info._sifields._sigchld.si_pid == process.processIdentifier else { return nil }
        // CLD_EXITED carries the exit code; a signal death is reported as 128 + the signal.
        return info.si_code == Int32(CLD_EXITED) ? info._sifields._sigchld.si_status : 128 + info._sifields._sigchld.si_status
    }

    /// Sends SIGTERM and waits up to `timeout` seconds; returns the exit status, or nil if it had to be killed.
    func terminate(timeout: Double = 10) async -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        if let status = await wait(timeout: timeout) { return status }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return nil
    }

    /// For `defer`: SIGTERM, a short blocking wait, then SIGKILL.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date(timeIntervalSinceNow: 3)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// `Tests/Fixtures/http_recorder.py` on a loopback port: records requests, answers as scripted.
final class HTTPRecorder: @unchecked Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        var headers: [String: String]
        var body: String
        /// When it arrived, by the recorder's clock (seconds since the epoch).
        var at: Double = 0
    }

    let directory: URL
    let child: Child
    let port: Int

    /// Starts the recorder (on `port`, or any free one) and waits until it listens.
    init(directory: URL, respond: [String] = [], port: Int? = nil, holdFirstSeconds: Double? = nil) async throws {
        self.directory = directory
        let portFile = directory.appendingPathComponent("recorder.port")
        try? FileManager.default.removeItem(at: portFile)
        var arguments = [DriverHarness.repoRoot.appendingPathComponent("Tests/Fixtures/http_recorder.py").path,
                         "--port-file", portFile.path, "--log", directory.appendingPathComponent("requests.jsonl").path]
        if let port { arguments += ["--port", String(port)] }
        for r in respond { arguments += ["--respond", r] }
        if let holdFirstSeconds { arguments += ["--hold-first", String(holdFirstSeconds)] }
        child = try Child(URL(fileURLWithPath: "/usr/bin/python3"), arguments, environment: ProcessInfo.processInfo.environment,
                          directory: directory, label: "recorder")
        guard await DriverHarness.eventually(timeout: 10, { FileManager.default.fileExists(atPath: portFile.path) }),
              let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) else {
            throw RecorderError(message: "the recorder did not start: \(child.stderr)")
        }
        self.port = port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Every request received so far, in order.
    var requests: [Request] {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("requests.jsonl"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Request(method: object["method"] as? String ?? "", path: object["path"] as? String ?? "",
                           headers: object["headers"] as? [String: String] ?? [:], body: object["body"] as? String ?? "",
                           at: object["at"] as? Double ?? 0)
        }
    }

    func stop() { child.stop() }

    struct RecorderError: Error { var message: String }
}
