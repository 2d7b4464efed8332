import FoundationEssentials
import JobQueue
import Logging
import Postgres

/// `list-queues` (admin): every configured queue's limits, pause flag, defaults and retention.
struct ListQueuesFunction: ConveyorFunction {
    let name = "list-queues"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let queues = try PostgresJobStore(connection: context.database()).queueSettings()
        return .json(200, raw: Data(JSONValue.object(["queues": .array(queues.map(\.json))]).jsonText.utf8))
    }
}

/// `get-queue` (admin): one queue's settings; 404 when it has none (it is then unlimited).
struct GetQueueFunction: ConveyorFunction {
    let name = "get-queue"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let queue = try QueuePath.name(invocation)
        guard let settings = try PostgresJobStore(connection: context.database()).queueSettings(named: queue) else {
            throw APIError(.notFound, "queue \(queue) has no settings: it runs unlimited and unpaused")
        }
        return .json(200, raw: Data(settings.json.jsonText.utf8))
    }
}

/// `put-queue` (admin): replaces a queue's settings; fields left out go back to their defaults
/// (unlimited, unpaused). 201 when the queue had none before, else 200.
struct PutQueueFunction: ConveyorFunction {
    let name = "put-queue"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        try QueuePath.update(invocation, context: context, replacing: true)
    }
}

/// `update-queue` (admin): changes only the fields given, e.g. `{"paused": true}`. 201 when
/// the queue had no settings before, else 200.
struct UpdateQueueFunction: ConveyorFunction {
    let name = "update-queue"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        try QueuePath.update(invocation, context: context, replacing: false)
    }
}

/// What the queue functions share: the `{name}` path parameter and the update.
enum QueuePath {
    static func name(_ invocation: Invocation) throws -> String {
        guard let name = invocation.pathParams["name"], JobRequest.isValidQueueName(name) else {
            throw APIError(.invalidInput, "name: must be 1 to 64 characters of a-z, 0-9, '_', '-' or '.', starting with a letter or digit",
                           details: ["field": "name"])
        }
        return name
    }

    static func update(_ invocation: Invocation, context: FunctionContext, replacing: Bool) throws -> HTTPResponse {
        let queue = try name(invocation)
        let patch = try BodyDecoder.parse(invocation.request)
        let result = try PostgresJobStore(connection: context.database()).updateQueue(named: queue, replacing: replacing, with: patch)
        if result.changed {
            context.logger.info("queue settings changed", metadata: ["queue": "\(queue)", "settings": "\(result.settings.json.jsonText)"])
        }
        let r = HTTPResponse.json(result.created ? 201 : 200, raw: Data(result.settings.json.jsonText.utf8))
        return result.created ? r.located("v1", "queues", queue) : r
    }
}

/// `deploy/queues.json`, applied by `local-host migrate` and when fcgi-host and cron-driver
/// start. The file is named by `CONVEYOR_QUEUES`; without it nothing is applied, so a test
/// cluster or a host that should not own queue settings is left alone.
///
/// Applying is idempotent: each entry changes only the fields it names, and a queue whose
/// settings already match is not written. A pause set by an operator survives, because the
/// file does not name `paused`.
public enum DeployedQueues {
    /// The variable naming the file.
    public static let variable = "CONVEYOR_QUEUES"

    /// Applies the file named by `CONVEYOR_QUEUES` on `connection`; returns the queues it created
    /// or changed, or nil when the variable is unset. A missing or invalid file is a
    /// `ConfigurationError` naming it.
    @discardableResult
    public static func apply(on connection: Connection, configuration: Configuration = Configuration()) throws -> [String]? {
        guard let path = configuration[variable] else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("\(variable): cannot read \(path)")
        }
        do {
            return try PostgresJobStore(connection: connection).applyQueueFile(data)
        } catch let error as JobQueueError {
            throw ConfigurationError("\(variable): \(path): \(error.message)")
        }
    }

    /// For host start-up: checks the file first (a bad one is a `ConfigurationError`, which stops
    /// the host), then applies it over `DATABASE_URL`. An unreachable database only logs a
    /// warning: the host still starts, and the next start or `local-host migrate` applies it.
    public static func applyAtStart(configuration: Configuration = Configuration(), logger: Logger) throws {
        guard let path = configuration[variable] else { return }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("\(variable): cannot read \(path)")
        }
        do {
            _ = try QueueSettings.parseFile(data)
        } catch let error as JobQueueError {
            throw ConfigurationError("\(variable): \(path): \(error.message)")
        }
        guard let url = configuration.databaseURL else {
            logger.warning("\(variable) is set but DATABASE_URL is not: queue settings not applied")
            return
        }
        do {
            let changed = try apply(on: Connection(url: url, applicationName: "conveyor-queues"), configuration: configuration) ?? []
            if !changed.isEmpty { logger.info("queue settings applied from \(path): \(changed.joined(separator: ", "))") }
        } catch let error as PostgresError {
            logger.warning("queue settings from \(path) not applied: \(error.message)")
        }
    }
}
