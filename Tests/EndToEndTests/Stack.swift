import Foundation
import Handlers
import Postgres
import Testing

/// A real deployment in a temporary prefix: fcgi-host behind nginx with `deploy/nginx.conf`
/// (only paths and ports changed), optionally fcgiwrap for CGI mode and `cron-driver watch`,
/// against the test cluster. Everything it starts is stopped by PID in `stop()`, which `deinit`
/// calls too, so a failing test leaves nothing running.
final class Stack: @unchecked Sendable {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    static let processorKey = "e2e-processor-\(UUID().uuidString)"
    static let adminKey = "e2e-admin-\(UUID().uuidString)"

    let dir: URL
    let httpPort: Int
    let cgiPort: Int
    let databaseURL: String
    /// The database this stack created for itself, dropped when it stops.
    private var ownDatabase: (name: String, adminURL: String)?
    var baseURL: String { "http://127.0.0.1:\(httpPort)" }
    var cgiURL: String { "http://127.0.0.1:\(cgiPort)" }
    /// The HTTPS address when the stack runs with `tls`.
    private(set) var tlsPort: Int?
    var tlsURL: String? { tlsPort.map { "https://localhost:\($0)" } }
    /// The self-signed certificate of `tlsURL`, to trust as a CA file.
    var certificate: String { dir.appendingPathComponent("tls.pem").path }
    var fcgiSocket: String { dir.appendingPathComponent("fcgi.sock").path }

    private(set) var fcgiHost: Process?
    private(set) var nginx: Process?
    private(set) var watcher: Process?
    private var fcgiwrapGroup: pid_t?
    private var stopped = false
    private var extraEnvironment: [String: String] = [:]

    struct Options {
        var workers = 2
        var maxRequests = 0
        var cgi = false
        var watch = false
        /// The queues `cron-driver watch` serves: a test on the shared cluster names its own, so
        /// the watcher never claims other suites' jobs.
        var watchQueues: [String] = []
        var grace = 10
        /// More environment for the stack's processes (e.g. an SMTP server for send-email).
        var environment: [String: String] = [:]
        /// A database of the stack's own in the test cluster, for tests that must call
        /// process-batch on every queue (fairness across orgs and queue names) without touching
        /// other suites' jobs.
        var ownDatabase = false
        /// Turns on the site's commented HTTPS listen with a self-signed certificate made for
        /// the test (`tlsURL`, trusted through `certificate`).
        var tls = false
        /// Starts fcgi-host as systemd would with conveyor-fcgi.socket: the sockets are made by
        /// Tests/Fixtures/socket_activate.py and passed as descriptors named fcgi and batch.
        var socketActivated = false
        /// The fcgi-host program to run (a copy a test may replace, for reloads).
        var program: String?
    }

    init(_ options: Options = Options()) throws {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through scripts/test")
            throw ConfigurationError("DATABASE_URL is not set")
        }
        extraEnvironment = options.environment
        if options.ownDatabase {
            let name = "conveyor_e2e_\(UUID().uuidString.prefix(8).lowercased())"
            try Connection(url: url).unsafeExecuteScript("CREATE DATABASE \(name)")
            ownDatabase = (name, url)
            databaseURL = Self.url(url, database: name)
        } else {
            databaseURL = url
        }
        try ConveyorSchema.migrate(Connection(url: databaseURL))
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("conveyor-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        // nginx workers run as nobody: they must reach the sockets in here.
        chmod(dir.path, 0o755)
        httpPort = try Self.freePort()
        cgiPort = try Self.freePort()
        do {
            try startFcgiHost(options)
            if options.cgi { try startFcgiwrap() }
            if options.tls { try makeCertificate() }
            try startNginx()
            if options.watch { try startWatcher(queues: options.watchQueues) }
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// The environment every Conveyor process of the stack gets.
    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = databaseURL
        env["CONVEYOR_PROCESSOR_KEY"] = Self.processorKey
        env["CONVEYOR_ADMIN_KEY"] = Self.adminKey
        env["CONVEYOR_MANIFEST"] = Self.repoRoot.appendingPathComponent("functions.json").path
        env["CONVEYOR_URL"] = baseURL
        env.merge(extraEnvironment) { _, extra in extra }
        return env
    }

    func startFcgiHost(_ options: Options) throws {
        let program = options.program ?? Self.binDir.appendingPathComponent("fcgi-host").path
        let pool = ["--workers", String(options.workers), "--max-requests", String(options.maxRequests), "--grace", String(options.grace)]
        let p: Process
        if options.socketActivated {
            p = try launch("/usr/bin/python3", [Self.repoRoot.appendingPathComponent("Tests/Fixtures/socket_activate.py").path,
                                                "--listen", fcgiSocket, "--listen", dir.appendingPathComponent("batch.sock").path,
                                                "--names", "fcgi:batch", "--", program, "serve"] + pool, log: "fcgi-host.log")
        } else {
            p = try launch(program, ["serve", "--listen", "unix:\(fcgiSocket)", "--batch-listen", "unix:\(dir.appendingPathComponent("batch.sock").path)",
                                     "--socket-mode", "0666"] + pool, log: "fcgi-host.log")
        }
        fcgiHost = p
        try waitFor("fcgi-host socket") { FileManager.default.fileExists(atPath: self.fcgiSocket) }
    }

    /// Restarts fcgi-host after a test killed or stopped it.
    func restartFcgiHost(_ options: Options = Options()) throws {
        if let p = fcgiHost, p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        try startFcgiHost(options)
    }

    func startFcgiwrap() throws {
        let cgi = dir.appendingPathComponent("conveyor.cgi")
        var script = "#!/bin/sh\n# fcgiwrap passes only CGI variables: the wrapper supplies the rest.\n"
        for key in ["DATABASE_URL", "CONVEYOR_PROCESSOR_KEY", "CONVEYOR_ADMIN_KEY", "CONVEYOR_MANIFEST"] {
            script += "export \(key)='\(environment[key]!)'\n"
        }
        script += "exec '\(Self.binDir.appendingPathComponent("fcgi-host").path)'\n"
        try script.write(to: cgi, atomically: true, encoding: .utf8)
        chmod(cgi.path, 0o755)
        let sock = dir.appendingPathComponent("fcgiwrap.sock").path
        // fcgiwrap orphans its children when killed: run it as a session leader and stop the group.
        let out = try run("/bin/sh", ["-c", "umask 000; setsid /usr/sbin/fcgiwrap -s unix:\(sock) -c 2 </dev/null >>'\(dir.path)/fcgiwrap.log' 2>&1 & echo $!"])
        fcgiwrapGroup = pid_t(out.trimmingCharacters(in: .whitespacesAndNewlines))
        try waitFor("fcgiwrap socket") { FileManager.default.fileExists(atPath: sock) }
    }

    /// A self-signed certificate for localhost, for the HTTPS listen.
    func makeCertificate() throws {
        tlsPort = try Self.freePort()
        try run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                                     "-addext", "subjectAltName=DNS:localhost", "-keyout", dir.appendingPathComponent("tls.key").path,
                                     "-out", certificate])
    }

    func startNginx() throws {
        var site = try String(contentsOf: Self.repoRoot.appendingPathComponent("deploy/nginx.conf"), encoding: .utf8)
        if let tlsPort {
            // The site's own commented lines, switched on: what an operator does.
            for (from, to) in [
                ("# listen 443 ssl http2;", "listen 127.0.0.1:\(tlsPort) ssl http2;"),
                ("# ssl_certificate     /etc/letsencrypt/live/conveyor.example.com/fullchain.pem;", "ssl_certificate \(certificate);"),
                ("# ssl_certificate_key /etc/letsencrypt/live/conveyor.example.com/privkey.pem;", "ssl_certificate_key \(dir.appendingPathComponent("tls.key").path);"),
            ] {
                guard site.contains(from) else { throw ConfigurationError("deploy/nginx.conf no longer has the line \(from)") }
                site = site.replacingOccurrences(of: from, with: to)
            }
        }
        for (from, to) in [
            ("127.0.0.1:8080", "127.0.0.1:\(httpPort)"),
            ("127.0.0.1:8081", "127.0.0.1:\(cgiPort)"),
            ("/run/conveyor/fcgi.sock", fcgiSocket),
            ("/run/conveyor/batch.sock", dir.appendingPathComponent("batch.sock").path),
            ("/run/conveyor/fcgiwrap.sock", dir.appendingPathComponent("fcgiwrap.sock").path),
            ("/usr/local/lib/conveyor/conveyor.cgi", dir.appendingPathComponent("conveyor.cgi").path),
        ] {
            site = site.replacingOccurrences(of: from, with: to)
        }
        try site.write(to: dir.appendingPathComponent("site.conf"), atomically: true, encoding: .utf8)
        let tmp = dir.appendingPathComponent("tmp").path
        let main = """
            worker_processes 1;
            pid \(dir.path)/nginx.pid;
            error_log \(dir.path)/nginx-error.log info;
            events { worker_connections 1024; }
            http {
                access_log \(dir.path)/nginx-access.log;
                client_body_temp_path \(tmp)/body;
                fastcgi_temp_path \(tmp)/fastcgi;
                proxy_temp_path \(tmp)/proxy;
                uwsgi_temp_path \(tmp)/uwsgi;
                scgi_temp_path \(tmp)/scgi;
                include \(dir.path)/site.conf;
            }

            """
        try main.write(to: dir.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        nginx = try launch("/usr/sbin/nginx", ["-p", dir.path, "-c", dir.appendingPathComponent("nginx.conf").path, "-e", "stderr", "-g", "daemon off;"],
                           log: "nginx.log")
        try waitFor("nginx") { Self.canConnect(port: self.httpPort) }
    }

    func startWatcher(queues: [String], arguments: [String] = []) throws {
        precondition(!queues.isEmpty || ownDatabase != nil, "a watcher on the shared cluster must be scoped to the test's queues")
        let scope = queues.isEmpty ? [] : ["--queues", queues.joined(separator: ",")]
        watcher = try launch(Self.binDir.appendingPathComponent("cron-driver").path, ["watch"] + scope + arguments, log: "cron-driver.log")
    }

    /// Stops everything this stack started, in reverse order.
    func stop() {
        guard !stopped else { return }
        stopped = true
        for p in [watcher, nginx, fcgiHost].compactMap({ $0 }) where p.isRunning {
            p.terminate()
        }
        // fcgiwrap holds no state worth a graceful stop, and it orphans children otherwise.
        if let group = fcgiwrapGroup { kill(-group, SIGKILL) }
        let deadline = Date().addingTimeInterval(15)
        for p in [watcher, nginx, fcgiHost].compactMap({ $0 }) {
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
        // Workers the master could not reap (it was killed) must not outlive the test.
        _ = try? run("/usr/bin/pkill", ["-KILL", "-f", fcgiSocket])
        if ProcessInfo.processInfo.environment["CONVEYOR_KEEP_E2E"] == nil {
            try? FileManager.default.removeItem(at: dir)
        }
        if let own = ownDatabase {
            _ = try? Connection(url: own.adminURL).unsafeExecuteScript("DROP DATABASE IF EXISTS \(own.name) WITH (FORCE)")
        }
    }

    /// `url` with its database name replaced.
    static func url(_ url: String, database: String) -> String {
        let parts = url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let base = parts[0]
        let prefix = base.lastIndex(of: "/").map { base[...$0] } ?? base[...]
        return prefix + database + (parts.count > 1 ? "?" + parts[1] : "")
    }

    /// The tail of one of the stack's logs, for failure messages.
    func log(_ name: String) -> String {
        let text = (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? ""
        return String(text.suffix(4000))
    }

    // MARK: - processes

    func launch(_ path: String, _ args: [String], log: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = environment
        let logURL = dir.appendingPathComponent(log)
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try handle.close()
        return p
    }

    /// Runs a short command to completion and returns its standard output (see `ChildProcess`).
    @discardableResult
    func run(_ path: String, _ args: [String]) throws -> String {
        let out = dir.appendingPathComponent("run-\(UUID().uuidString.prefix(8)).out")
        defer { try? FileManager.default.removeItem(at: out) }
        return try ChildProcess.run(path, args, environment: environment, outputFile: out, standardErrorToOutput: false).output
    }

    func waitFor(_ what: String, timeout: Double = 15, _ ready: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !ready() {
            guard Date() < deadline else { throw ConfigurationError("\(what) did not come up in \(Int(timeout)) s") }
            usleep(20_000)
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw ConfigurationError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
