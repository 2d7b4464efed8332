import FoundationEssentials
import Postgres

/// `health`: public; 200 when the database answers and every migration is applied, else 503.
struct HealthFunction: ConveyorFunction {
    let name = "health"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let current: Bool
        do {
            current = try ConveyorSchema.isCurrent(context.database())
        } catch {
            throw APIError(.unavailable, "the database is unreachable", details: ["database": "down"])
        }
        guard current else {
            throw APIError(.unavailable, "migrations are pending: run local-host migrate", details: ["migrations": "pending"])
        }
        return try .json(200, ["status": "ok", "database": "ok", "migrations": "current", "version": BuildInfo.version])
    }
}

/// `pool-status` (admin): the host's worker pool — accepted requests, active, idle and total
/// workers, respawns, slow requests and uptime — in the spirit of PHP-FPM's status page.
struct PoolStatusFunction: ConveyorFunction {
    let name = "pool-status"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        guard let report = context.poolStatus else {
            throw APIError(.notFound, "this host runs no worker pool")
        }
        return .json(200, raw: Data(report().jsonText.utf8))
    }
}
