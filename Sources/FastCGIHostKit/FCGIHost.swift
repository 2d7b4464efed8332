import ArgumentParser
import FastCGI
import FoundationEssentials
import Glibc
import Handlers
import Logging

/// `fcgi-host`: the functions behind nginx. `serve` runs a PHP-FPM-style FastCGI pool; started
/// as a CGI script (GATEWAY_INTERFACE=CGI/1.1, as fcgiwrap does) it answers one request.
///
/// A Swift team builds its own fcgi-host from the `Conveyor` library: register its functions
/// with `FunctionRegistry.register`, then call `FCGIHost.main()`. Workers are this same program
/// started again, so they register the same functions.
public enum FCGIHost {
    public static func main() {
        // A web server that hangs up must cost an EPIPE, never the process.
        signal(SIGPIPE, SIG_IGN)
        do {
            try SecretFiles.resolveProcessEnvironment()
        } catch {
            printError("\(error)")
            exit(2)
        }
        let environment = ProcessInfo.processInfo.environment
        do {
            ConveyorLog.bootstrap(try ConveyorLog.settings(environment: environment))
        } catch {
            printError("\(error)")
            exit(2)
        }
        if CGIGateway.isCGI(environment: environment) {
            exit(CGIMode.run(environment: environment))
        }
        FCGIHostCommand.main()
    }

    /// One line on standard error, prefixed with the program's name.
    static func printError(_ message: String) {
        try? CGIGateway.writeAll(Array("fcgi-host: \(message)\n".utf8), to: STDERR_FILENO)
    }

    /// Runs the startup steps; any failure there is a configuration problem: one line, exit 2.
    static func reportingStartupErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as HostError {
            printError(error.message)
            throw ExitCode(2)
        } catch let error as FCGIError {
            printError(error.message)
            throw ExitCode(2)
        } catch let error as ConfigurationError {
            printError(error.description)
            throw ExitCode(2)
        }
    }
}

struct FCGIHostCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fcgi-host",
        abstract: "Serve Conveyor's functions over FastCGI (or as a CGI script when GATEWAY_INTERFACE is set).",
        version: BuildInfo.version,
        subcommands: [ServeCommand.self, ProbeCommand.self, WorkerCommand.self])
}
