import ArgumentParser
import Cron
import Foundation
import Handlers
import JobQueue
import Postgres

/// `cron-driver watch`: calls process-batch within milliseconds of an enqueue, via LISTEN/NOTIFY.
struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call process-batch as soon as jobs are enqueued (LISTEN/NOTIFY on DATABASE_URL).",
        discussion: """
            Keeps one process-batch call out as a long poll (--wait-seconds): it waits for \
            enqueues itself and starts a job within a claim's round trip of its enqueue; when it \
            answers, the next goes out at once. Work the long poll cannot take (its slots are \
            busy with slow jobs) starts another call beside it, up to --max-in-flight at once. \
            With --wait-seconds 0, calls once at start, then on every notification (after a \
            short debounce that coalesces bursts), again while batches come back full, and when \
            the next delayed job comes due. Survives database restarts and HTTP failures; the crontab's \
            process-batch line stays as the safety net. SIGTERM stops it after the running call.
            """)

    @Option(help: "Only these queues, comma-separated (default: all).") var queues: String?
    /// High by default: a long poll that reaches it while slow jobs still run can take no new
    /// work until they end, and leaves it to extra calls.
    @Option(help: "maxJobs for each process-batch call (1-10000).") var maxJobs = 10_000
    @Option(help: "maxSeconds for each process-batch call.") var maxSeconds: Double = 50
    @Option(help: "How long the long-poll call waits for work in process-batch (0: no long poll; at most --max-seconds; default 20, or 0.4 of --max-seconds when that is less).")
    var waitSeconds: Double?
    @Option(help: "Jobs each process-batch call runs at once (1-1000; default: process-batch's, 32). Raise it for slow jobs: a long poll whose slots are all busy leaves new work to extra calls.")
    var parallelism: Int?
    @Option(help: "Milliseconds to wait after a notification for more to arrive (without a long poll).") var debounceMs: Double = 1
    @Option(help: "Longest idle sleep in seconds before looking for delayed jobs again.") var maxWaitSeconds: Double = 60
    @Option(help: "Most process-batch calls under way at once (1-16): while calls are busy with slow jobs, new work starts another.")
    var maxInFlight = 2
    @Option(help: "The function manifest (default: $CONVEYOR_MANIFEST or ./functions.json).") var manifest: String?
    @Option(help: .hidden) var applicationName = "conveyor-cron-watch"
    @Flag(help: "Log every call, not only those that claimed jobs.") var verbose = false

    func validate() throws {
        guard (1...10_000).contains(maxJobs) else { throw ValidationError("--max-jobs must be between 1 and 10000") }
        guard (1...16).contains(maxInFlight) else { throw ValidationError("--max-in-flight must be between 1 and 16") }
        guard maxSeconds.isFinite, maxSeconds > 0, maxSeconds <= 600 else { throw ValidationError("--max-seconds must be more than 0 and at most 600") }
        if let parallelism {
            guard (1...BatchOptions.maxParallelism).contains(parallelism) else {
                throw ValidationError("--parallelism must be between 1 and \(BatchOptions.maxParallelism)")
            }
        }
        if let waitSeconds, !(waitSeconds.isFinite && waitSeconds >= 0 && waitSeconds <= maxSeconds) {
            throw ValidationError("--wait-seconds must be between 0 and --max-seconds")
        }
        guard debounceMs.isFinite, debounceMs >= 0, debounceMs <= 10_000 else { throw ValidationError("--debounce-ms must be between 0 and 10000") }
        guard maxWaitSeconds.isFinite, maxWaitSeconds >= 0.1 else { throw ValidationError("--max-wait-seconds must be at least 0.1") }
        if let queues {
            let names = queueList(queues)
            guard !names.isEmpty else { throw ValidationError("--queues needs at least one queue name") }
            if let bad = names.first(where: { !JobRequest.isValidQueueName($0) }) {
                throw ValidationError("--queues: \(bad) is not a valid queue name")
            }
        }
    }

    func queueList(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() throws {
        let stop = CronStopSignal()
        let logger = try CronDriver.reportingErrors { try CronDriver.logger(verbose: verbose) }
        StopOnSignals.install(stop) { logger.info("\($0)") }

        let watcher = try CronDriver.reportingErrors {
            let environment = ProcessInfo.processInfo.environment
            let settings = try DriverSettings(environment: environment)
            // LISTEN needs a session of its own: behind a transaction-pooling PgBouncer, DATABASE_URL
            // reaches whichever server connection is free, so watch may be pointed past it.
            let configuration = Configuration(environment: environment)
            let listenURL = configuration["CONVEYOR_LISTEN_DATABASE_URL"]
            let databaseURL = try listenURL ?? configuration.require("DATABASE_URL")
            if listenURL == nil, try DatabasePooler.fromEnvironment(environment) == .transaction {
                throw ConfigurationError("CONVEYOR_DATABASE_POOLER is transaction: set CONVEYOR_LISTEN_DATABASE_URL to a direct connection, where watch can LISTEN")
            }
            try DeployedQueues.applyAtStart(configuration: Configuration(environment: environment), logger: logger)
            let manifest = try FunctionManifest.load(path: self.manifest)
            let endpoint = try FunctionEndpoint(function: "process-batch", manifest: manifest, baseURL: settings.baseURL)
            let options = Watcher.Options(queues: queues.map(queueList), maxJobs: maxJobs, maxSeconds: maxSeconds,
                                          debounce: debounceMs / 1000, maxWait: maxWaitSeconds, applicationName: applicationName,
                                          maxInFlight: maxInFlight, waitSeconds: waitSeconds ?? min(20, maxSeconds * 0.4),
                                          parallelism: parallelism)
            return try Watcher(options: options, databaseURL: databaseURL, endpoint: endpoint,
                               settings: settings, stop: stop, logger: logger)
        }
        watcher.run()
        logger.info("stopped")
    }
}
