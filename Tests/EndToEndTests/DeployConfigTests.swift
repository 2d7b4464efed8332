import Foundation
import Handlers
import Testing

/// deploy/nginx.conf and functions.json must agree, or nginx would refuse what a function accepts.
struct DeployConfigTests {
    /// The body limit nginx applies to each location, in bytes.
    static func nginxLimits() throws -> [String: Int] {
        let conf = try String(contentsOf: Stack.repoRoot.appendingPathComponent("deploy/nginx.conf"), encoding: .utf8)
        let fcgiSite = conf.components(separatedBy: "# CGI/1.1 mode")[0]
        var limits: [String: Int] = [:]
        var location: String?
        for raw in fcgiSite.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("location ") {
                location = String(line.dropFirst("location ".count).dropLast(2))
            } else if line.hasPrefix("client_max_body_size "), let loc = location {
                let value = line.dropFirst("client_max_body_size ".count).dropLast()
                let n = Int(value.dropLast()) ?? 0
                limits[loc] = value.hasSuffix("m") ? n << 20 : value.hasSuffix("k") ? n << 10 : Int(value) ?? -1
            }
        }
        return limits
    }

    /// The nginx location that serves a function's path.
    /// As nginx picks: an exact match, else the first regex that matches, else `/`.
    static func location(for path: String, in limits: [String: Int]) -> String {
        if limits["= \(path)"] != nil { return "= \(path)" }
        let concrete = path.replacingOccurrences(of: #"\{[^/}]+\}"#, with: "42", options: .regularExpression)
        for loc in limits.keys.sorted() where loc.hasPrefix("~ ") {
            if concrete.range(of: String(loc.dropFirst(2)), options: .regularExpression) != nil { return loc }
        }
        return "/"
    }

    @Test func bodyLimitsMatchTheManifest() throws {
        let manifest = try FunctionManifest.load(path: Stack.repoRoot.appendingPathComponent("functions.json").path)
        let limits = try Self.nginxLimits()
        // Functions sharing a location (enqueue and list-jobs) share its limit: the larger one.
        var wanted: [String: Int] = [:]
        for entry in manifest.functions {
            guard let path = entry.path else { continue }
            let loc = Self.location(for: path, in: limits)
            wanted[loc] = max(wanted[loc] ?? 0, entry.bodyLimitBytes)
        }
        for (loc, manifestLimit) in wanted {
            let nginx = try #require(limits[loc], "no client_max_body_size for \(loc)")
            // nginx must never refuse a body a function accepts, and must not accept much more
            // either: fcgi-host would only refuse it after nginx had buffered it.
            if manifestLimit > 0 {
                #expect(nginx == manifestLimit, "\(loc): nginx \(nginx) != functions.json \(manifestLimit)")
            } else {
                #expect(nginx <= 1024, "\(loc) takes no body, yet nginx allows \(nginx)")
            }
        }
        #expect(wanted.count >= 10)
        // Every function has a location of its own: `/` is for unknown paths only.
        #expect(wanted["/"] == nil)
    }

    @Test func processBatchTimeoutOutlastsItsBudget() throws {
        let conf = try String(contentsOf: Stack.repoRoot.appendingPathComponent("deploy/nginx.conf"), encoding: .utf8)
        let block = try #require(conf.components(separatedBy: "location = /v1/process-batch {").dropFirst().first?.components(separatedBy: "}").first)
        #expect(block.contains("fastcgi_ignore_client_abort on;"))
        let timeout = block.split(separator: "\n").first { $0.contains("fastcgi_read_timeout") }
            .flatMap { Int($0.split(separator: " ").last?.dropLast(2) ?? "") }
        let manifest = try FunctionManifest.load(path: Stack.repoRoot.appendingPathComponent("functions.json").path)
        let budget = try #require(manifest.entry("process-batch")).timeoutSeconds
        #expect(Double(timeout ?? 0) > budget)
    }

    /// nginx must wait longer for a function than the function's own time bound, so a client
    /// hears the function's answer (a 503 that stored nothing), never nginx's timeout while the
    /// worker might still store what it was sent.
    @Test func nginxWaitsLongerThanEveryFunctionsBound() throws {
        let conf = try String(contentsOf: Stack.repoRoot.appendingPathComponent("deploy/nginx.conf"), encoding: .utf8)
        let fcgiSite = conf.components(separatedBy: "# CGI/1.1 mode")[0]
        var readTimeout: [String: Int] = [:]
        var serverDefault = 60, location: String?
        for raw in fcgiSite.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("location ") {
                location = String(line.dropFirst("location ".count).dropLast(2))
            } else if line.hasPrefix("fastcgi_read_timeout "), line.hasSuffix("s;"),
                      let seconds = Int(line.dropFirst("fastcgi_read_timeout ".count).dropLast(2)) {
                if let location { readTimeout[location] = seconds } else { serverDefault = seconds }
            }
        }
        let limits = try Self.nginxLimits()
        let manifest = try FunctionManifest.load(path: Stack.repoRoot.appendingPathComponent("functions.json").path)
        var checked = 0
        for entry in manifest.functions {
            guard let path = entry.path else { continue }
            let loc = Self.location(for: path, in: limits)
            let nginx = readTimeout[loc] ?? serverDefault
            #expect(Double(nginx) >= entry.timeoutSeconds + 2, "\(entry.name) (\(loc)): nginx waits \(nginx) s, the function's bound is \(entry.timeoutSeconds) s")
            checked += 1
        }
        #expect(checked >= 30)
    }
}
