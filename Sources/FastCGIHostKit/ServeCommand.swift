import ArgumentParser
import Dispatch
import FastCGI
import FoundationEssentials
import Glibc
import Handlers
import Logging

/// The pool's settings, checked once by the master and handed to each worker on its command line.
struct ServeConfig {
    var listen: FCGIListenAddress
    var socketMode: mode_t?
    var socketGroup: String?
    var backlog: Int32
    var workers: Int
    /// The second pool, for process-batch (nil: none): its address and workers.
    var batchListen: FCGIListenAddress?
    var batchWorkers: Int = 0
    var maxRequests: Int
    var grace: Double
    var slowSeconds: Double
    var readTimeout: Double
    /// Microseconds a request that can share a commit waits for its neighbours (0: never).
    var groupWaitUs: Int
    /// Absolute, so a worker finds it whatever its working directory.
    var manifestPath: String
    var pool: String
    /// Stop gracefully when the process that started the master goes away (tests, supervisors).
    var stopWhenOrphaned = false

    /// Slots from `workers` on belong to the batch pool.
    /// Slots run in two generations (a reload starts the next beside the old): slot and
    /// slot + workers + batchWorkers are the same worker's.
    func isBatchSlot(_ slot: Int) -> Bool { slot % (workers + batchWorkers) >= workers }

    func workerArguments(slot: Int, listenFD: Int32, scoreboardFD: Int32) -> [String] {
        let batch = isBatchSlot(slot)
        // A batch worker holds one connection at a time: it is busy for as long as a long poll or
        // a batch lasts, and a kept connection it held meanwhile would hold up that request too.
        return ["worker", "--listen-fd", "\(listenFD)", "--scoreboard-fd", "\(scoreboardFD)", "--slot", "\(slot)",
         "--listen", (batch ? batchListen ?? listen : listen).description, "--workers", "\(batch ? batchWorkers : workers)",
         "--max-connections", batch ? "1" : "\(FCGIServeLoop.defaultMaxConnections)", "--max-requests", "\(maxRequests)",
         "--slow-seconds", "\(slowSeconds)", "--read-timeout", "\(readTimeout)", "--group-wait-us", "\(groupWaitUs)", "--grace", "\(grace)", "--manifest", manifestPath, "--pool", pool]
    }
}

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the functions over FastCGI with a master and a static pool of worker processes.",
        discussion: """
        SIGTERM, SIGINT or SIGQUIT stop gracefully: the listener closes, each worker finishes its request in \
        flight (a process-batch stops claiming, hands back the jobs it has not started and gives running ones \
        --grace less 2 seconds), and stragglers are killed after --grace seconds. Configuration errors print one \
        line and exit 2.
        """)

    @Option(help: "unix:/path.sock or 127.0.0.1:PORT. Not needed under systemd socket activation: the sockets named fcgi and batch (FileDescriptorName=) are used.") var listen: String?
    @Option(help: "The unix socket's mode, in octal (e.g. 0660; 0666 lets any local user connect).") var socketMode: String?
    @Option(help: "The unix socket's group (e.g. www-data), so the web server's workers can connect.") var socketGroup: String?
    @Option(help: "The listen backlog.") var backlog: Int32 = 511
    @Option(help: "Worker processes (default: twice the cores).") var workers: Int?
    @Option(help: ArgumentHelp("A second socket, for process-batch: unix:/path.sock or 127.0.0.1:PORT (nginx sends /v1/process-batch there).",
                               discussion: "Its workers hold one connection each, so a long poll or a long batch never holds up a request nginx sends on another kept connection; the main pool keeps serving many connections per worker."))
    var batchListen: String?
    @Option(help: "Worker processes on --batch-listen: at most this many process-batch calls run at once.") var batchWorkers = 3
    @Option(help: "Requests a worker serves before it is replaced; 0 never recycles.") var maxRequests = 500
    @Option(help: "Seconds workers get to finish their request in flight when stopping.") var grace: Double = 10
    @Option(help: "Requests slower than this many seconds are logged and counted.") var slowSeconds: Double = 5
    @Option(help: "Seconds one read from the web server may stall while a request is in flight.") var readTimeout: Double = 30
    @Option(help: ArgumentHelp("Microseconds an enqueue waits for requests on a worker's other recently answered connections, so they share one commit; 0 turns the wait off.",
                               discussion: "Like Postgres's commit_delay: a lone client never waits; under concurrent load a short wait lets several enqueues share one insert and one WAL flush."))
    var groupWaitUs = 500
    @Option(help: "The function manifest (default: $CONVEYOR_MANIFEST or ./functions.json).") var manifest: String?
    @Option(help: "The pool's name in the status report.") var pool = "conveyor"
    @Flag(help: ArgumentHelp("Stop gracefully when the parent process exits.", visibility: .hidden)) var stopWhenOrphaned = false

    func run() throws {
        var master: Master?
        try FCGIHost.reportingStartupErrors {
            let passed = try SocketActivation.listeners(environment: ProcessInfo.processInfo.environment)
            var config = try checkedConfig(activated: passed)
            try DeployedQueues.applyAtStart(logger: Logger(label: "conveyor.fcgi-host"))
            let listener = try passed?["fcgi"] ?? passed?["unknown"]
                ?? FCGIListener.bind(config.listen, backlog: config.backlog, mode: config.socketMode, group: config.socketGroup)
            config.listen = listener.address // a TCP port 0 is now the kernel's choice
            let batchListener = try passed?["batch"] ?? config.batchListen.map {
                try FCGIListener.bind($0, backlog: config.backlog, mode: config.socketMode, group: config.socketGroup)
            }
            config.batchListen = batchListener?.address
            if batchListener != nil, config.batchWorkers == 0 { config.batchWorkers = batchWorkers }
            // Twice the workers: during a reload the new generation starts beside the old one.
            let board = try Scoreboard.create(slots: 2 * (config.workers + config.batchWorkers))
            var logger = Logger(label: "conveyor.fcgi-host")
            logger[metadataKey: "pid"] = "\(getpid())"
            master = Master(config: config, listener: listener, batchListener: batchListener, board: board, logger: logger)
            // Once everything else checked out, and beside the start: a database that is away
            // costs its connect timeout there, not here.
            let manifestPath = config.manifestPath, kindsLogger = logger
            DispatchQueue.global().async { DeployedKinds.publish(manifestPath: manifestPath, logger: kindsLogger) }
        }
        guard let master else { return }
        let status = try master.run()
        if status != 0 { throw ExitCode(status) }
    }

    func checkedConfig(activated: [String: FCGIListener]? = nil) throws -> ServeConfig {
        let address: FCGIListenAddress
        if let passed = activated?["fcgi"] ?? activated?["unknown"] {
            address = passed.address
        } else {
            guard let listen else { throw HostError.configuration("--listen is required (unix:/path.sock or 127.0.0.1:PORT), unless systemd passes the socket") }
            address = try FCGIListenAddress(parsing: listen)
        }
        var mode: mode_t?
        if let socketMode {
            guard let m = mode_t(socketMode, radix: 8), m <= 0o7777 else {
                throw HostError.configuration("--socket-mode takes an octal mode such as 0660, got \(socketMode)")
            }
            mode = m
        }
        let workers = self.workers ?? max(1, ProcessInfo.processInfo.activeProcessorCount * 2)
        guard (1...1024).contains(workers) else { throw HostError.configuration("--workers must be 1 to 1024") }
        let batchAddress = try batchListen.map { try FCGIListenAddress(parsing: $0) }
        guard batchAddress == nil || (1...256).contains(batchWorkers) else { throw HostError.configuration("--batch-workers must be 1 to 256") }
        guard maxRequests >= 0 else { throw HostError.configuration("--max-requests must be 0 or more") }
        guard (0...100_000).contains(groupWaitUs) else { throw HostError.configuration("--group-wait-us must be 0 to 100000") }
        guard grace >= 0, slowSeconds > 0, readTimeout > 0, backlog > 0 else {
            throw HostError.configuration("--grace, --slow-seconds, --read-timeout and --backlog must be positive")
        }
        let chosen = manifest ?? Configuration()["CONVEYOR_MANIFEST"] ?? "functions.json"
        let absolute = URL(fileURLWithPath: chosen).standardizedFileURL.path
        // Load and route it now, so a bad manifest stops the master instead of crash-looping workers.
        _ = try Router(manifest: FunctionManifest.load(path: absolute))
        return ServeConfig(listen: address, socketMode: mode, socketGroup: socketGroup, backlog: backlog, workers: workers,
                           batchListen: batchAddress, batchWorkers: batchAddress == nil ? 0 : batchWorkers,
                           maxRequests: maxRequests, grace: grace, slowSeconds: slowSeconds, readTimeout: readTimeout,
                           groupWaitUs: groupWaitUs, manifestPath: absolute, pool: pool, stopWhenOrphaned: stopWhenOrphaned)
    }
}
