import ArgumentParser
import Cron
import Curl
import Foundation
import Handlers
import Logging

/// `cron-driver run`: the crontab's own scheduler, for hosts without a system cron.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the crontab's entries at their minutes, without a system cron.",
        discussion: """
            Entries `cron-driver once FUNCTION [BODY]` run in process; other commands run with \
            /bin/sh -c and the crontab's NAME=value settings in their environment. An entry whose \
            previous run is still going is skipped. Schedules are read in the local time zone \
            (TZ). {slot} in a body becomes the minute the entry fired for, in UTC \
            (2026-11-22T20:35Z). SIGTERM or SIGINT stops it: no new runs, running ones get \
            --grace-seconds.
            """)

    @Option(help: "The crontab to run.") var crontab = "crontab"
    @Option(help: "The function manifest (default: $CONVEYOR_MANIFEST or ./functions.json).") var manifest: String?
    @Option(help: "Seconds to wait for running entries after SIGTERM.") var graceSeconds: Double = 30
    @Flag(help: .hidden) var fireCurrentMinute = false
    /// Fires the entries matching this minute (a slot such as 2026-11-22T20:35Z) at start, as
    /// if the clock were there: lets tests fire two drivers for one slot.
    @Option(help: .hidden) var fireMinute: String?

    /// What one entry does, resolved at start so a mistake stops the driver before any minute.
    enum Plan: Sendable {
        case call(FunctionEndpoint, DriverSettings, body: Data)
        case shell(ShellCommand)
    }

    func run() throws {
        let stop = CronStopSignal()
        let logger = try CronDriver.reportingErrors { try CronDriver.logger() }
        StopOnSignals.install(stop) { logger.info("\($0)") }

        let (tab, plans) = try CronDriver.reportingErrors { try load() }
        let replayed = try CronDriver.reportingErrors { () throws -> Date? in
            guard let fireMinute else { return nil }
            guard let minute = CronSlot.parse(fireMinute) else { throw ConfigurationError("--fire-minute takes a slot such as 2026-11-22T20:35Z") }
            return minute
        }
        let zone = TimeZone.current
        logger.info("running \(tab.entries.count) entries from \(crontab) in time zone \(zone.identifier)")
        let scheduler = CronScheduler(entries: tab.entries, timeZone: zone, stopSignal: stop,
                                      log: { logger.info("\($0)") }) { firing in
            Self.execute(plans[firing.entry.line]!, minute: firing.minute, stop: stop, logger: logger)
        }
        if fireCurrentMinute { scheduler.tick(at: CronScheduler.minuteStart(Date())) }
        if let replayed { scheduler.tick(at: replayed) }
        let abandoned = scheduler.run(grace: graceSeconds)
        if abandoned > 0 {
            logger.warning("stopped with \(abandoned) entries still running after \(graceSeconds) s")
        } else {
            logger.info("stopped")
        }
    }

    /// Parses the crontab and resolves every entry, naming the line of any problem.
    func load() throws -> (Crontab, [Int: Plan]) {
        guard let data = FileManager.default.contents(atPath: crontab) else {
            throw ConfigurationError("cannot read the crontab at \(crontab)")
        }
        let tab: Crontab
        do {
            tab = try Crontab(parsing: String(decoding: data, as: UTF8.self))
        } catch {
            throw ConfigurationError("\(crontab): \(error.description)")
        }
        let base = ProcessInfo.processInfo.environment
        var manifest: FunctionManifest?
        var plans: [Int: Plan] = [:]
        for entry in tab.entries {
            let environment = base.merging(entry.environment) { $1 }
            switch CronCommand(entry) {
            case .callFunction(let name, let body):
                do {
                    let settings = try DriverSettings(environment: environment)
                    if manifest == nil { manifest = try FunctionManifest.load(path: self.manifest, environment: environment) }
                    let endpoint = try FunctionEndpoint(function: name, manifest: manifest!, baseURL: settings.baseURL)
                    _ = try settings.key(for: endpoint)
                    plans[entry.line] = .call(endpoint, settings, body: body.map { Data($0.utf8) } ?? endpoint.defaultBody)
                } catch let error as ConfigurationError {
                    throw ConfigurationError("\(crontab) line \(entry.line): \(error.description)")
                }
            case .shell(let command):
                plans[entry.line] = .shell(ShellCommand(command: command, environment: environment, standardInput: entry.standardInput))
            }
        }
        return (tab, plans)
    }

    /// Runs one firing and describes the outcome for its log line.
    static func execute(_ plan: Plan, minute: Date, stop: CronStopSignal, logger: Logger) -> String {
        switch plan {
        case .call(let endpoint, let settings, let body):
            do {
                let caller = try FunctionCaller(settings: settings)
                // The same slot on every driver and every retry: that is what makes it idempotent.
                let slotted = Data(CronSlot.expand(String(decoding: body, as: UTF8.self), minute: minute).utf8)
                let response = try caller.send(endpoint, body: slotted, retryingAfter: FunctionCaller.retryDelays, stop: stop) { error, attempt, delay in
                    logger.warning("\(endpoint.name): \(error.description); retry \(attempt) of \(FunctionCaller.retryDelays.count) in \(delay) s")
                }
                return response.isSuccess ? "HTTP \(response.status)" : "HTTP \(response.status) \(response.bodySnippet())"
            } catch {
                return "failed: \(error)"
            }
        case .shell(let command):
            return command.run()
        }
    }
}
