import ArgumentParser
import Cron
import Foundation
import Handlers
import Logging
import Postgres

/// `cron-driver`: calls Conveyor's functions with the processor key, for a system cron
/// (`once`), as its own scheduler (`run`), or on LISTEN/NOTIFY (`watch`).
///
/// Configuration comes from the environment: `CONVEYOR_URL`, `CONVEYOR_PROCESSOR_KEY`,
/// `DATABASE_URL` (watch only) and `CONVEYOR_MANIFEST`. The key is never printed.
@main
struct CronDriver: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron-driver",
        abstract: "Call Conveyor functions on a schedule, with the processor key.",
        discussion: """
            Environment: CONVEYOR_URL (e.g. http://127.0.0.1:8080), CONVEYOR_PROCESSOR_KEY, \
            DATABASE_URL (watch only) and CONVEYOR_MANIFEST (default ./functions.json).
            """,
        version: BuildInfo.version,
        subcommands: [Once.self, Run.self, Watch.self])

    /// Reads the `NAME_FILE` secrets first, then runs the command line.
    static func main() {
        do {
            try SecretFiles.resolveProcessEnvironment()
        } catch {
            printError("\(error)")
            Self.exit(withError: ExitCode(2))
        }
        main(Array(CommandLine.arguments.dropFirst()))
    }

    /// Runs `body`, turning configuration problems into one line on standard error and exit 2.
    static func reportingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ConfigurationError {
            printError(error.description)
            throw ExitCode(2)
        } catch let error as CronError {
            printError(error.description)
            throw ExitCode(2)
        } catch let error as PostgresError {
            printError("database error: \(error.message)")
            throw ExitCode(2)
        }
    }

    /// Writes `cron-driver: message` to standard error.
    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("cron-driver: \(message)\n".utf8))
    }

    /// The log for `run` and `watch`: one line per event on standard error.
    static func logger(verbose: Bool = false) throws -> Logger {
        let settings = try bootstrapLogging.get()
        var logger = Logger(label: "cron-driver")
        logger.logLevel = verbose ? min(.debug, settings.level) : settings.level
        return logger
    }

    /// `CONVEYOR_LOG_FORMAT` and `CONVEYOR_LOG_LEVEL`, installed once.
    private static let bootstrapLogging: Result<ConveyorLog.Settings, any Error> = Result {
        let settings = try ConveyorLog.settings(environment: ProcessInfo.processInfo.environment)
        ConveyorLog.bootstrap(settings)
        return settings
    }
}
