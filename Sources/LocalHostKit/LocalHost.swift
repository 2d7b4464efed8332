import ArgumentParser
import Foundation
import Handlers
import Logging
import Postgres

/// `local-host`: runs functions in process, for tests and scripts, through the same router the
/// nginx host uses. A Swift team's own local-host registers its functions with
/// `FunctionRegistry.register`, then calls `LocalHost.main()`.
public struct LocalHost: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "local-host",
        abstract: "Run Conveyor functions in process.",
        version: BuildInfo.version,
        subcommands: [Migrate.self, CreateOrg.self, Orgs.self, RotateKey.self, RevokeKey.self, Invoke.self])

    /// Logs as `CONVEYOR_LOG_FORMAT` and `CONVEYOR_LOG_LEVEL` say, then runs the command line.
    public static func main() {
        do {
            try SecretFiles.resolveProcessEnvironment()
            ConveyorLog.bootstrap(try ConveyorLog.settings(environment: ProcessInfo.processInfo.environment))
        } catch {
            FileHandle.standardError.write(Data("local-host: \(error)\n".utf8))
            Self.exit(withError: ExitCode(2))
        }
        main(Array(CommandLine.arguments.dropFirst()))
    }

    /// Runs `body`, turning configuration and database errors into one line and exit code 2.
    static func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("local-host: \(error.description)\n".utf8))
            throw ExitCode(2)
        } catch let error as PostgresError {
            FileHandle.standardError.write(Data("local-host: database error: \(error.message)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func connect() throws -> Connection {
        guard let url = Configuration().databaseURL else { throw ConfigurationError("DATABASE_URL is not set") }
        return try Connection(url: url, applicationName: "conveyor-local-host")
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations (safe to run concurrently) and publish the manifest's job kinds for SQL enqueues.",
        discussion: "Everything goes into the schema CONVEYOR_SCHEMA names (default conveyor); an installation that predates schemas, in public, is moved there first.")

    @Option(help: "The function manifest (default: $CONVEYOR_MANIFEST or ./functions.json).") var manifest: String?

    func run() throws {
        try LocalHost.reportingErrors {
            let kinds = try FunctionManifest.load(path: manifest).jobKinds
            let configuration = Configuration()
            let pooler = try DatabasePooler.fromEnvironment(configuration.environment)
            // The migrator's lock needs a session: past a transaction pooler, over the direct URL.
            let connection = try configuration["CONVEYOR_LISTEN_DATABASE_URL"].map {
                try Connection(url: $0, applicationName: "conveyor-local-host", pooler: DatabasePooler.none)
            } ?? LocalHost.connect()
            let applied = try ConveyorSchema.migrate(connection, kinds: kinds)
            if pooler == .transaction {
                try Migrator.setRoleSearchPath(on: connection)
                print("search path: \(connection.schema.name) for this role in this database (CONVEYOR_DATABASE_POOLER=transaction)")
            }
            print(applied.isEmpty ? "migrations: up to date" : "migrations: applied \(applied.map(String.init).joined(separator: ", "))")
            if let queues = try DeployedQueues.apply(on: connection) { print("queues: \(queues.isEmpty ? "up to date" : "applied \(queues.joined(separator: ", "))")") }
        }
    }
}

struct CreateOrg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-org",
        abstract: "Create an organization and print its API key. The key is shown only this once.")

    @Argument(help: "The organization's name.") var name: String
    @Flag(help: "Print only the key, for scripts.") var quiet = false

    func run() throws {
        try LocalHost.reportingErrors {
            let org = try Organizations.create(name: name, connection: LocalHost.connect())
            if quiet {
                print(org.key)
            } else {
                print("organization \(org.id) \(org.name)")
                print("api key (shown once, only its hash is stored): \(org.key)")
            }
        }
    }
}
