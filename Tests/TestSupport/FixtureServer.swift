import Foundation

#if canImport(Glibc)
import Glibc
#endif

// Shared by the test targets that start the python fixtures of Tests/Fixtures.

/// One of the python fixtures in Tests/Fixtures, run with Debian's python3 (which has
/// aiosmtpd; pyenv's python3 on PATH does not). Stopped by `stop()` or at the latest in deinit.
public final class FixtureServer {
    public let directory: URL
    public let port: Int
    private let process: Process

    /// Starts `script` with `--port-file` and `arguments`, and waits for it to report its port.
    /// `python` is Debian's by default; fixtures that need PyPI packages pass `TestPython.path()`.
    public init(script: String, arguments: [String] = [], python: String = "/usr/bin/python3") throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("curl-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let portFile = directory.appendingPathComponent("port")
        let log = directory.appendingPathComponent("server.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)

        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures")
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-u", fixtures.appendingPathComponent(script).path, "--port-file", portFile.path]
            + arguments
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()

        let deadline = Date().addingTimeInterval(20)
        var found: Int?
        while found == nil, Date() < deadline, process.isRunning {
            if let text = try? String(contentsOf: portFile, encoding: .utf8) {
                found = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if found == nil { Thread.sleep(forTimeInterval: 0.02) }
        }
        guard let found else {
            let stderr = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            Self.stop(process)
            try? FileManager.default.removeItem(at: directory)
            throw FixtureError(message: "\(script) did not report a port: \(stderr)")
        }
        port = found
    }

    deinit {
        stop()
    }

    /// Terminates the server (SIGTERM, then SIGKILL after 5 s) and removes its directory.
    public func stop() {
        Self.stop(process)
        try? FileManager.default.removeItem(at: directory)
    }

    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        // A watchdog, not a polling loop, covers a server that ignores SIGTERM.
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 5, execute: watchdog)
        process.terminate()
        process.waitUntilExit()
        watchdog.cancel()
    }
}

/// A fixture that could not be started.
public struct FixtureError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(message: String) {
        self.message = message
    }

    public init(_ message: String) {
        self.message = message
    }
}

/// A 127.0.0.1 port bound to a socket that never listens: connecting to it is refused, and no
/// other test can take the port while this object lives.
public final class RefusingPort {
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FixtureError(message: "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0
                    && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else {
            close(descriptor)
            throw FixtureError(message: "bind() failed")
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit {
        close(descriptor)
    }
}
