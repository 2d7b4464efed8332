import Foundation

/// A crontab command run as cron runs it: `/bin/sh -c COMMAND`, with the crontab's settings
/// added to the environment and the `%` text (if any) on standard input.
struct ShellCommand: Sendable {
    let command: String
    let environment: [String: String]
    let standardInput: String?

    /// Runs to completion; answers `exit N`, `killed by signal N` or `failed to start: …`.
    /// Output goes to the driver's own standard output and error.
    func run() -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = environment
        do {
            process.standardInput = try standardInput.map(Self.inputFile) ?? FileHandle.nullDevice
            try process.run()
        } catch {
            return "failed to start: \(error.localizedDescription)"
        }
        process.waitUntilExit()
        switch process.terminationReason {
        case .exit: return "exit \(process.terminationStatus)"
        case .uncaughtSignal: return "killed by signal \(process.terminationStatus)"
        @unknown default: return "ended (\(process.terminationStatus))"
        }
    }

    /// The input in an unlinked temporary file: unlike a pipe, a command that never reads it
    /// cannot block the driver or hit it with SIGPIPE.
    static func inputFile(_ text: String) throws -> FileHandle {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cron-driver-input-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: path, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown)
        }
        unlink(path)
        return handle
    }
}
