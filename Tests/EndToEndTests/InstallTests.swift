import Foundation
import Postgres
import Handlers
import Testing

/// scripts/install into a scratch root, as a Debian 12 server would get it, and the systemd units
/// checked by systemd's own tools: `systemd-analyze verify` (with the unit paths pointed into the
/// scratch root, where the binaries are), `systemd-sysusers --dry-run`, and `nginx -t` on the site.
struct InstallTests {
    /// Runs a command; its exit status and everything it printed.
    static func sh(_ command: String) throws -> (status: Int32, output: String) {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("install-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: out) }
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
        let r = try ChildProcess.run("/bin/sh", ["-c", command], environment: env, outputFile: out)
        return (r.status, r.output)
    }

    static func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func installPutsEverythingInPlaceAndSystemdAcceptsTheUnits() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-root-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let repo = Stack.repoRoot.path
        let installed = try Self.sh("'\(repo)/scripts/install' --root '\(root)' --bin-dir '\(Stack.binDir.path)'")
        #expect(installed.status == 0, "\(installed.output)")
        for binary in ["fcgi-host", "local-host", "cron-driver"] {
            #expect(try Self.mode("\(root)/usr/local/bin/\(binary)") == 0o755)
        }
        #expect(try Self.mode("\(root)/etc/conveyor/conveyor.env") == 0o600, "the secrets file is readable by its owner only")
        #expect(FileManager.default.contentsEqual(atPath: "\(root)/etc/conveyor/functions.json", andPath: "\(repo)/functions.json"))
        for file in ["crontab", "queues.json"] { #expect(FileManager.default.fileExists(atPath: "\(root)/etc/conveyor/\(file)")) }

        // The operator's environment file survives an upgrade.
        try "DATABASE_URL=postgresql://kept\n".write(toFile: "\(root)/etc/conveyor/conveyor.env", atomically: true, encoding: .utf8)
        #expect(try Self.sh("'\(repo)/scripts/install' --root '\(root)' --bin-dir '\(Stack.binDir.path)'").status == 0)
        #expect(try String(contentsOfFile: "\(root)/etc/conveyor/conveyor.env", encoding: .utf8) == "DATABASE_URL=postgresql://kept\n")

        // systemd-analyze verify, with the units' absolute paths pointing into the scratch root.
        // It exits 0 even on a bad unit, so any line it prints is a failure.
        let units = ["conveyor-fcgi.socket", "conveyor-batch.socket", "conveyor-fcgi.service", "conveyor-watch.service", "conveyor-cron.service"]
        let check = FileManager.default.temporaryDirectory.appendingPathComponent("units-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: check, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: check) }
        for unit in units {
            let text = try String(contentsOfFile: "\(root)/etc/systemd/system/\(unit)", encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/", with: "\(root)/usr/local/bin/")
                .replacingOccurrences(of: "/etc/conveyor/", with: "\(root)/etc/conveyor/")
            try text.write(toFile: "\(check)/\(unit)", atomically: true, encoding: .utf8)
        }
        let verified = try Self.sh("cd '\(check)' && systemd-analyze verify \(units.map { "'\(check)/\($0)'" }.joined(separator: " ")) 2>&1")
        #expect(verified.status == 0 && verified.output.isEmpty, "systemd-analyze verify:\n\(verified.output)")
        let users = try Self.sh("systemd-sysusers --dry-run --root='\(root)' '\(root)/etc/sysusers.d/conveyor.conf' 2>&1")
        #expect(users.status == 0 && users.output.contains("Creating user 'conveyor'") && !users.output.contains(":1:"), "\(users.output)")

        // The units and the code agree on the sockets' names, and the service is reloadable.
        let service = try String(contentsOfFile: "\(root)/etc/systemd/system/conveyor-fcgi.service", encoding: .utf8)
        #expect(service.contains("ExecReload=/bin/kill -HUP $MAINPID"))
        #expect(service.contains("User=conveyor") && service.contains("EnvironmentFile=/etc/conveyor/conveyor.env"))
        #expect(try String(contentsOfFile: "\(root)/etc/systemd/system/conveyor-fcgi.socket", encoding: .utf8).contains("FileDescriptorName=fcgi"))
        #expect(try String(contentsOfFile: "\(root)/etc/systemd/system/conveyor-batch.socket", encoding: .utf8).contains("FileDescriptorName=batch"))

        // nginx accepts the installed site as it is.
        let site = "\(root)/etc/nginx/conf.d/conveyor.conf"
        let main = "\(check)/nginx.conf"
        try "pid \(check)/nginx.pid; error_log stderr; events {} http { include \(site); }\n".write(toFile: main, atomically: true, encoding: .utf8)
        let nginx = try Self.sh("/usr/sbin/nginx -t -p '\(check)' -c '\(main)' 2>&1")
        #expect(nginx.status == 0, "\(nginx.output)")
    }

    /// A secret may come from a file (NAME_FILE), for systemd credentials and Docker secrets.
    @Test func secretsComeFromFiles() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)").path
        try "s3cret-admin\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let resolved = try SecretFiles.resolved(["CONVEYOR_ADMIN_KEY_FILE": file, "OTHER": "x"])
        #expect(resolved["CONVEYOR_ADMIN_KEY"] == "s3cret-admin" && resolved["CONVEYOR_ADMIN_KEY_FILE"] == nil && resolved["OTHER"] == "x")
        #expect { try SecretFiles.resolved(["CONVEYOR_ADMIN_KEY_FILE": file, "CONVEYOR_ADMIN_KEY": "also"]) } throws: { "\($0)".contains("both set") }
        #expect { try SecretFiles.resolved(["DATABASE_URL_FILE": "/nonexistent/x"]) } throws: { "\($0)".contains("DATABASE_URL_FILE") }
        // The programs read them first thing: a host started with the admin key in a file serves it.
        // (No stack here migrates the cluster, and on a fresh one, as the PgBouncer pass starts,
        // this may be the first test to reach it.)
        try ConveyorSchema.migrate(Connection(url: try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])))
        var env = ProcessInfo.processInfo.environment
        env["CONVEYOR_ADMIN_KEY"] = nil
        env["CONVEYOR_ADMIN_KEY_FILE"] = file
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: out) }
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)").path
        try "s3cret-admin\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let r = try ChildProcess.run(Stack.binDir.appendingPathComponent("local-host").path,
                                     ["invoke", "list-orgs", "--key-file", keyFile, "--query", "limit=1"], environment: env, outputFile: out)
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.output.contains("s3cret-admin"))
    }
}
