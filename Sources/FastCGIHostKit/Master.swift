import FastCGI
import FoundationEssentials
import Handlers
import Dispatch
import Glibc
import Logging

/// The master process, as PHP-FPM's static pool: owns the listener and the scoreboard, keeps N
/// workers alive (replacing any that exit, with a short back-off when they crash-loop), and on
/// SIGTERM/SIGINT/SIGQUIT stops gracefully within the grace period.
///
/// SIGHUP or SIGUSR2 reloads: a new generation of workers starts from the program file on disk
/// (so an upgraded binary) and reads the manifest again, while the old generation stops
/// accepting, answers what it was sent and exits. The listening sockets never close.
final class Master {
    struct Slot {
        var pid: pid_t = 0
        var startedNs: UInt64 = 0
        /// Consecutive crashes soon after start; drives the back-off.
        var quickFailures = 0
        /// When a replacement is due (monotonic ns); nil when none is pending.
        var respawnAtNs: UInt64?
    }

    let config: ServeConfig
    let listener: FCGIListener
    let batchListener: FCGIListener?
    let board: Scoreboard
    let logger: Logger
    /// Scoreboard slots: two generations of `perGeneration` each.
    var slots: [Slot]
    let perGeneration: Int
    /// Which half of `slots` the current workers live in; a reload flips it.
    var generation = 0
    /// The program workers are started from: the file on disk, so a reload after an upgrade
    /// runs the new binary (/proc/self/exe would still be the old one).
    let program: String

    init(config: ServeConfig, listener: FCGIListener, batchListener: FCGIListener?, board: Scoreboard, logger: Logger) {
        self.config = config
        self.listener = listener
        self.batchListener = batchListener
        self.board = board
        self.logger = logger
        self.perGeneration = config.workers + config.batchWorkers
        self.slots = Array(repeating: Slot(), count: 2 * (config.workers + config.batchWorkers))
        self.program = Spawner.programPath()
    }

    /// The board slots of the current generation.
    var currentSlots: Range<Int> { (generation % 2 * perGeneration)..<(generation % 2 * perGeneration + perGeneration) }

    static func nowNs() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Runs until a stop signal; returns the process exit status.
    func run() throws -> Int32 {
        let wake = try SignalPipe.install([SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGUSR2])
        try listener.setInheritable(true)
        try batchListener?.setInheritable(true)
        _ = fcntl(board.fd, F_SETFD, 0)
        logger.info("fcgi-host listening", metadata: [
            "listen": "\(listener.address)", "workers": "\(config.workers)", "maxRequests": "\(config.maxRequests)",
            "batchListen": "\(batchListener.map { "\($0.address)" } ?? "none")", "batchWorkers": "\(config.batchWorkers)",
        ])
        for i in currentSlots { spawn(i) }
        let parent = getppid()
        while true {
            if config.stopWhenOrphaned && getppid() != parent {
                logger.warning("the parent process is gone; stopping")
                break
            }
            let timeout = nextDeadlineMs()
            var pfd = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, timeout)
            drain(wake)
            let signals = SignalPipe.take()
            if !signals.isDisjoint(with: [SIGTERM, SIGINT, SIGQUIT]) { break }
            reap(respawn: true)
            if !signals.isDisjoint(with: [SIGHUP, SIGUSR2]) { reload() }
            let now = Self.nowNs()
            for i in slots.indices where slots[i].respawnAtNs.map({ $0 <= now }) ?? false { spawn(i) }
        }
        stop(wake: wake)
        return 0
    }

    func nextDeadlineMs() -> Int32 {
        let now = Self.nowNs()
        let soonest = slots.compactMap(\.respawnAtNs).min()
        guard let soonest else { return 1000 }
        return soonest <= now ? 0 : Int32(min(1000, (soonest - now) / 1_000_000 + 1))
    }

    func drain(_ fd: Int32) {
        var scratch = [UInt8](repeating: 0, count: 256)
        while read(fd, &scratch, scratch.count) > 0 {}
    }

    func spawn(_ i: Int) {
        slots[i].respawnAtNs = nil
        board.resetForNewWorker(i)
        do {
            let fd = config.isBatchSlot(i) ? (batchListener ?? listener).fd : listener.fd
            let pid = try Spawner.spawn(program: program, arguments: config.workerArguments(slot: i, listenFD: fd, scoreboardFD: board.fd))
            board.set(i, .pid, UInt64(pid))
            slots[i].pid = pid
            slots[i].startedNs = Self.nowNs()
            logger.info("worker started", metadata: ["slot": "\(i)", "workerPid": "\(pid)"])
        } catch {
            logger.error("cannot start a worker", metadata: ["slot": "\(i)", "error": "\(error)"])
            board.setState(i, .empty)
            slots[i].quickFailures += 1
            slots[i].respawnAtNs = Self.nowNs() + backoffNs(slots[i].quickFailures)
        }
    }

    /// 100 ms doubling to 5 s.
    func backoffNs(_ failures: Int) -> UInt64 {
        UInt64(min(5_000.0, 100.0 * pow(2.0, Double(max(0, failures - 1)))) * 1_000_000)
    }

    /// Collects exited workers; when `respawn`, schedules their replacements.
    func reap(respawn: Bool) {
        while true {
            var raw: Int32 = 0
            let pid = waitpid(-1, &raw, WNOHANG)
            guard pid > 0 else { return }
            guard let i = slots.firstIndex(where: { $0.pid == pid }) else { continue }
            let status = ExitStatus(raw: raw)
            let livedNs = Self.nowNs() - slots[i].startedNs
            slots[i].pid = 0
            board.set(i, .pid, 0)
            board.setState(i, .empty)
            logger.log(level: status.isClean ? .info : .warning, "worker exited", metadata: [
                "slot": "\(i)", "workerPid": "\(pid)", "status": "\(status)", "requests": "\(board.get(i, .requests))",
            ])
            // A worker of an old generation is not replaced: the new one is already serving.
            guard respawn, currentSlots.contains(i) else { continue }
            board.add(.respawns)
            if status.isClean {
                board.add(.recycles)
                slots[i].quickFailures = 0
                spawn(i)
                continue
            }
            board.add(.crashes)
            // A worker that dies right after starting will likely die again: back off a little.
            slots[i].quickFailures = livedNs < 2_000_000_000 ? slots[i].quickFailures + 1 : 0
            if slots[i].quickFailures == 0 {
                spawn(i)
            } else {
                let delay = backoffNs(slots[i].quickFailures)
                logger.warning("worker crash-looping; backing off", metadata: ["slot": "\(i)", "delayMs": "\(delay / 1_000_000)"])
                slots[i].respawnAtNs = Self.nowNs() + delay
            }
        }
    }

    /// Starts the next generation of workers, then retires the current one (SIGUSR1): each old
    /// worker answers what it was sent, lets its kept connections go, and exits. A reload while
    /// the previous one's workers are still retiring waits for them.
    func reload() {
        let next = ((generation + 1) % 2 * perGeneration)..<((generation + 1) % 2 * perGeneration + perGeneration)
        guard !next.contains(where: { slots[$0].pid > 0 }) else {
            logger.warning("reload ignored: workers of the previous reload are still finishing")
            return
        }
        let old = currentSlots
        generation += 1
        logger.info("reloading", metadata: ["program": "\(program)", "manifest": "\(config.manifestPath)"])
        let manifestPath = config.manifestPath, logger = self.logger
        DispatchQueue.global().async { DeployedKinds.publish(manifestPath: manifestPath, logger: logger) }
        for i in currentSlots { spawn(i) }
        for i in old {
            slots[i].respawnAtNs = nil
            if slots[i].pid > 0 { kill(slots[i].pid, SIGUSR1) }
        }
        board.add(.reloads)
    }

    /// Stops accepting, asks every worker to finish its request in flight, waits up to the grace
    /// period, then kills stragglers.
    func stop(wake: Int32) {
        logger.info("stopping", metadata: ["graceSeconds": "\(config.grace)"])
        board.set(.stopping, 1)
        for l in [listener] + (batchListener.map { [$0] } ?? []) {
            l.removeSocketFile()
            l.close()
        }
        for slot in slots where slot.pid > 0 { kill(slot.pid, SIGTERM) }
        let deadline = Self.nowNs() + UInt64(max(0, config.grace) * 1e9)
        while slots.contains(where: { $0.pid > 0 }) && Self.nowNs() < deadline {
            var pfd = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, 100)
            drain(wake)
            reap(respawn: false)
        }
        for slot in slots where slot.pid > 0 {
            logger.warning("worker did not finish within the grace period; killing it", metadata: ["workerPid": "\(slot.pid)"])
            kill(slot.pid, SIGKILL)
        }
        for i in slots.indices where slots[i].pid > 0 {
            var raw: Int32 = 0
            while waitpid(slots[i].pid, &raw, 0) < 0 && errno == EINTR {}
            slots[i].pid = 0
        }
        logger.info("stopped")
    }
}
