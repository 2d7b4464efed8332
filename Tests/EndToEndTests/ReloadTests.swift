import Foundation
import Handlers
import JobQueue
import Postgres
import Testing

/// `systemctl reload` (SIGHUP to the master) under load through nginx: the sockets stay open
/// (systemd holds them, as with conveyor-fcgi.socket), the new workers run the program file as it
/// now is and read the manifest again, the old ones finish what they were sent, and not one
/// request fails.
struct ReloadTests {
    @Test func aReloadUnderLoadFailsNoRequestAndRunsTheNewProgramAndManifest() throws {
        // The program and the manifest are the stack's own copies, which the test changes.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let program = scratch.appendingPathComponent("fcgi-host")
        try FileManager.default.copyItem(at: Stack.binDir.appendingPathComponent("fcgi-host"), to: program)
        let manifest = scratch.appendingPathComponent("functions.json")
        try FileManager.default.copyItem(at: Stack.repoRoot.appendingPathComponent("functions.json"), to: manifest)

        var options = Stack.Options(workers: 2)
        options.socketActivated = true
        options.program = program.path
        options.maxRequests = 0
        options.environment = ["CONVEYOR_MANIFEST": manifest.path]
        let stack = try Stack(options)
        defer { stack.stop() }
        let master = try #require(stack.fcgiHost?.processIdentifier)
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let web = try Web(stack.baseURL)
        let first = try #require(try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key).json["id"]?.intValue)
        #expect(try web.call("GET", "/v1/jobs/\(first)", key: tenant.key).json["maxAttempts"] == 3)
        let before = Set(EndToEndTests.workerPids(try web.call("GET", "/v1/pool/status", key: Stack.adminKey).json))
        #expect(before.count == 2 + 3, "two workers and the batch pool's three")

        // Load: four clients, each on its own kept connection, enqueueing and reading back.
        let stop = Flag(), statuses = Tally(), failures = Collected<String>()
        let done = DispatchGroup()
        for n in 0..<4 {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                guard let client = try? Web(stack.baseURL) else { return }
                var i = 0
                while !stop.isSet {
                    i += 1
                    do {
                        let r = try client.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)","payload":{"n":\#(n),"i":\#(i)}}"#, key: tenant.key, timeout: 20)
                        statuses.add(r.status)
                        if r.status != 201 { failures.add("\(r.status) \(r.text.prefix(200))") }
                    } catch {
                        statuses.add(0)
                        failures.add("\(error)")
                    }
                }
            }
        }
        Thread.sleep(forTimeInterval: 1)
        // The upgrade: a new manifest (noop gets 7 attempts) and a new program file, which marks
        // the environment of what it starts.
        var text = try String(contentsOf: manifest, encoding: .utf8)
        let noop = #""job": {"queue": "default", "maxAttempts": 3,"#
        #expect(text.contains(noop))
        text = text.replacingOccurrences(of: noop, with: #""job": {"queue": "default", "maxAttempts": 7,"#)
        try text.write(to: manifest, atomically: true, encoding: .utf8)
        let real = scratch.appendingPathComponent("fcgi-host.real")
        try FileManager.default.moveItem(at: program, to: real)
        try "#!/bin/sh\nexport CONVEYOR_RELOAD_MARK=upgraded\nexec '\(real.path)' \"$@\"\n".write(to: program, atomically: true, encoding: .utf8)
        chmod(program.path, 0o755)
        let countBefore = statuses.values.count
        kill(master, SIGHUP)

        var after: Set<Int64> = []
        try stack.waitFor("the old workers to be replaced", timeout: 30) {
            guard let pool = try? web.call("GET", "/v1/pool/status", key: Stack.adminKey).json else { return false }
            after = Set(EndToEndTests.workerPids(pool))
            return pool["reloads"] == 1 && after.count == before.count && after.isDisjoint(with: before)
        }
        Thread.sleep(forTimeInterval: 1)
        stop.set()
        #expect(done.wait(timeout: .now() + 60) == .success)

        let all = statuses.values
        #expect(all.count - countBefore > 20, "load went on through the reload: \(all.count - countBefore) requests after the signal")
        #expect(failures.values.isEmpty, "failed requests across the reload: \(failures.values)")
        #expect(all.allSatisfy { $0 == 201 })
        // The new workers run the new program file...
        for pid in after {
            let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
            #expect(String(decoding: environ, as: UTF8.self).contains("CONVEYOR_RELOAD_MARK=upgraded"), "worker \(pid)")
        }
        // ...with the new manifest, and the master is the same process on the same socket.
        let later = try #require(try web.call("POST", "/v1/jobs", body: #"{"kind":"noop","queue":"\#(tenant.queue)"}"#, key: tenant.key).json["id"]?.intValue)
        #expect(try web.call("GET", "/v1/jobs/\(later)", key: tenant.key).json["maxAttempts"] == 7)
        #expect(stack.fcgiHost?.isRunning == true && stack.fcgiHost?.processIdentifier == master)
    }
}
