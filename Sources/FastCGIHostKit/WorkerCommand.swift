import ArgumentParser
import FastCGI
import Handlers

/// The hidden subcommand the master spawns; not for people.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", shouldDisplay: false)

    @Option var listenFD: Int32
    @Option var scoreboardFD: Int32
    @Option var slot: Int
    @Option var listen: String
    @Option var workers: Int
    @Option var maxConnections: Int = FCGIServeLoop.defaultMaxConnections
    @Option var maxRequests: Int
    @Option var slowSeconds: Double
    @Option var readTimeout: Double
    @Option var groupWaitUs: Int = 0
    @Option var grace: Double = 10
    @Option var manifest: String
    @Option var pool: String

    func run() throws {
        let worker = Worker(listenFD: listenFD, scoreboardFD: scoreboardFD, slot: slot,
                            pool: PoolIdentity(name: pool, listen: listen, maxRequests: maxRequests, slowSeconds: slowSeconds),
                            workers: workers, maxConnections: maxConnections, manifestPath: manifest, readTimeout: readTimeout,
                            groupWaitSeconds: Double(groupWaitUs) / 1e6, graceSeconds: grace)
        do {
            try worker.run()
        } catch {
            FCGIHost.printError("worker \(slot): \(error)")
            throw ExitCode(error is ConfigurationError ? 2 : 1)
        }
    }
}
