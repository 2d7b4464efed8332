import Foundation

/// The Python that has the PyPI packages of Tests/requirements.txt: $CONVEYOR_TEST_PYTHON as
/// scripts/test exports it, else made once by scripts/python-env (two runs at once would
/// rebuild the same venv under each other).
public enum TestPython {
    private static let made = Result { () throws -> String in
        if let python = ProcessInfo.processInfo.environment["CONVEYOR_TEST_PYTHON"], !python.isEmpty { return python }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = repo.appendingPathComponent("scripts/python-env")
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let python = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, !python.isEmpty else {
            throw FixtureError(message: "no test python: set CONVEYOR_TEST_PYTHON (scripts/python-env)")
        }
        return python
    }

    /// Its path.
    public static func path() throws -> String { try made.get() }
}
