import FastCGI
import Foundation
import Glibc
import Synchronization

/// Runs the real binary once as a CGI script, as fcgiwrap would.
struct CGIRun {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var response: FCGIResponse? { try? FCGIResponse(parsingCGI: stdout) }

    /// `variables` are the request's CGI variables; the database and keys come from this process.
    /// With `keepStdinOpen`, `stdin` is written but never closed, as a client still uploading.
    static func run(_ variables: [String: String], stdin: String = "", keepStdinOpen: Bool = false,
                    manifest: String? = nil) throws -> CGIRun {
        let process = Process()
        process.executableURL = HostProcess.binary
        process.currentDirectoryURL = URL(fileURLWithPath: "/tmp")
        var env = ["GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "QUERY_STRING": "",
                   "CONVEYOR_MANIFEST": manifest ?? HostProcess.repoRoot.appendingPathComponent("functions.json").path,
                   "CONVEYOR_PROCESSOR_KEY": HostProcess.processorKey, "CONVEYOR_ADMIN_KEY": HostProcess.adminKey]
        env["DATABASE_URL"] = ProcessInfo.processInfo.environment["DATABASE_URL"]
        for (k, v) in variables { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        // A hung host must fail the test, not hang it.
        let pid = process.processIdentifier
        let finished = Finished()
        DispatchQueue.global().asyncAfter(deadline: .now() + 30) {
            if !finished.flag.load(ordering: .acquiring) { kill(pid, SIGKILL) }
        }
        defer { finished.flag.store(true, ordering: .releasing) }
        input.fileHandleForWriting.write(Data(stdin.utf8))
        if !keepStdinOpen { try input.fileHandleForWriting.close() }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if keepStdinOpen { try? input.fileHandleForWriting.close() }
        process.waitUntilExit()
        return CGIRun(status: process.terminationStatus, stdout: [UInt8](o), stderr: String(decoding: e, as: UTF8.self))
    }
}

final class Finished: Sendable {
    let flag = Atomic<Bool>(false)
}
