import FastCGI
import FoundationEssentials
import Dispatch
import Glibc
import Handlers
import Logging

/// One worker process: accepts on the inherited listener and serves the connections it holds
/// through the router (requests ready together are answered together), with one `FunctionContext` (so one lazily opened database connection) for
/// its whole life. It exits after `maxRequests`, on SIGTERM/SIGINT/SIGQUIT once the request in
/// flight is answered, or when its master is gone.
struct Worker {
    var listenFD: Int32
    var scoreboardFD: Int32
    var slot: Int
    var pool: PoolIdentity
    var workers: Int
    /// Connections held at once (1 in the batch pool).
    var maxConnections: Int
    var manifestPath: String
    var readTimeout: Double
    var groupWaitSeconds: Double
    /// The master's grace period: a worker stopping gives jobs in flight this, less a margin
    /// for recording them and answering, before the master kills it.
    var graceSeconds: Double

    static let stopSignals = [SIGTERM, SIGINT, SIGQUIT]
    /// What a stopping worker keeps of the grace to record its jobs' outcomes and answer.
    static let answerMargin = 2.0

    func run() throws {
        // SIGUSR1 retires the worker gracefully (a reload): see FCGIServeLoop.shouldRecycle.
        let wake = try SignalPipe.install(Self.stopSignals + [SIGUSR1])
        let board = try Scoreboard.attach(fd: scoreboardFD)
        board.set(slot, .pid, UInt64(getpid()))
        board.setState(slot, .idle)
        defer { board.setState(slot, .exiting) }

        var logger = Logger(label: "conveyor.fcgi-host")
        logger[metadataKey: "pid"] = "\(getpid())"
        let manifest = try FunctionManifest.load(path: manifestPath)
        let router = try Router(manifest: manifest)
        let context = FunctionContext(manifest: manifest, logger: logger)
        let pool = self.pool
        context.poolStatus = { board.report(pool) }
        let master = getppid()
        let orphaned = OrphanCheck(master: master)
        // A process-batch running when SIGTERM comes stops claiming at once, hands back what it
        // has not started, and gives running jobs the grace less a margin to record and answer.
        let stopRequested = { SignalPipe.hasSeen(Self.stopSignals) || board.get(.stopping) != 0 || orphaned() }
        context.shouldStop = stopRequested
        context.stopGraceSeconds = max(0, graceSeconds - Self.answerMargin)
        let responder = RouterResponder(router: router, context: context, board: board, slot: slot, slowSeconds: pool.slowSeconds)

        var options = FCGIConnectionOptions()
        options.readTimeout = readTimeout
        options.writeTimeout = readTimeout
        options.advertisedMaxConnections = workers
        options.advertisedMaxRequests = workers
        options.logger = logger
        var loop = FCGIServeLoop(options: options)
        loop.maxRequests = pool.maxRequests
        loop.maxConnections = maxConnections
        loop.groupWaitSeconds = groupWaitSeconds
        loop.wakeFD = wake
        let slot = self.slot
        // A job that would not stop at its deadline may still be running on a thread: end this
        // process once its answer is out, and the master starts a fresh one.
        loop.shouldStop = { stopRequested() || context.mustRecycle }
        loop.shouldRecycle = { SignalPipe.hasSeen([SIGUSR1]) }
        loop.connectionAccepted = {
            board.add(slot, .connections)
            board.add(slot, .connectionsTotal)
        }
        let listener = FCGIListener(adopting: listenFD, address: try FCGIListenAddress(parsing: pool.listen))
        let outcome = try loop.run(listener: listener, responder: responder)
        listener.close()
        logger.debug("worker done", metadata: ["slot": "\(slot)", "outcome": "\(outcome)"])
    }
}

/// True once the master is gone (the worker was re-parented). Asks the kernel at most every
/// 100 ms: the serve loop checks between every two requests, and a system call each time showed
/// up in the profile, while a worker that outlives its master by 100 ms harms nobody.
final class OrphanCheck {
    private let master: pid_t
    private var checkedAtNs: UInt64 = 0
    private var orphaned = false

    init(master: pid_t) {
        self.master = master
    }

    func callAsFunction() -> Bool {
        if orphaned { return true }
        let now = DispatchTime.now().uptimeNanoseconds
        if now &- checkedAtNs < 100_000_000 { return false }
        checkedAtNs = now
        orphaned = getppid() != master
        return orphaned
    }
}
