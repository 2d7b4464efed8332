import Foundation
import Handlers
import Testing

/// One version string, in BuildInfo.swift: the binaries, the changelog and the running service
/// all say the same, and the licence is there for anyone adopting it.
struct VersionTests {
    @Test(arguments: ["fcgi-host", "local-host", "cron-driver"])
    func everyBinaryAnswersItsVersion(binary: String) throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("version-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try ChildProcess.run(Stack.binDir.appendingPathComponent(binary).path, ["--version"],
                                          environment: ["PATH": "/usr/bin:/bin"], outputFile: out)
        #expect(result.status == 0)
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == BuildInfo.version)
    }

    @Test func theChangelogsNewestEntryIsThisVersion() throws {
        let changelog = try String(contentsOf: Stack.repoRoot.appendingPathComponent("CHANGELOG.md"), encoding: .utf8)
        let newest = changelog.split(separator: "\n").first { $0.hasPrefix("## [") }
        #expect(newest?.hasPrefix("## [\(BuildInfo.version)] - ") == true, "CHANGELOG.md's newest entry: \(newest ?? "none")")
        // Semantic versioning: three numbers.
        #expect(BuildInfo.version.split(separator: ".").compactMap { Int($0) }.count == 3)
        let licence = try String(contentsOf: Stack.repoRoot.appendingPathComponent("LICENSE"), encoding: .utf8)
        #expect(licence.hasPrefix("MIT License"))
        let openapi = try String(contentsOf: Stack.repoRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        #expect(openapi.contains("\n  version: \(BuildInfo.version)\n"), "openapi.yaml's info.version: run scripts/openapi-gen")
    }

    @Test func healthAndMetricsReportTheRunningVersion() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let web = try Web(stack.baseURL)
        let health = try web.call("GET", "/health")
        #expect(health.status == 200)
        #expect(health.json["version"]?.stringValue == BuildInfo.version)
        let metrics = try web.call("GET", "/metrics", key: Stack.adminKey)
        #expect(metrics.status == 200)
        #expect(metrics.text.contains("conveyor_build_info{version=\"\(BuildInfo.version)\"} 1"))
    }
}
