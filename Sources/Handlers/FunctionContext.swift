import FoundationEssentials
import JobQueue
import Logging
import Postgres

/// Everything a function may use. Functions keep no state of their own; a host builds one context
/// per worker and reuses it, so the database connection is opened once, lazily.
public final class FunctionContext {
    public let configuration: Configuration
    public let manifest: FunctionManifest
    public let logger: Logger
    /// The clock; tests may pin it.
    public var now: () -> Date = Date.init
    /// The host's worker-pool report (PHP-FPM style), for `pool-status`; nil in hosts without a pool.
    public var poolStatus: (() -> JSONValue)?
    private var connection: Connection?
    /// Tenant keys this worker resolved recently (see `TenantKeyCache`).
    let tenantKeys = TenantKeyCache()
    /// Seconds a resolved tenant key is trusted before the database is asked again; a revoked key
    /// stops working within this time. 0 asks every time.
    public var tenantKeyTTL = TenantKeyCache.defaultTTL

    public init(configuration: Configuration = Configuration(), manifest: FunctionManifest,
                logger: Logger = Logger(label: "conveyor"), connection: Connection? = nil) {
        self.configuration = configuration
        self.manifest = manifest
        self.logger = logger
        self.connection = connection
    }

    /// The job kinds the manifest declares.
    public var jobKinds: JobKinds { manifest.jobKinds }

    /// The worker's connection, opened on first use. A database that cannot be reached is a 503.
    public func database() throws -> Connection {
        if let connection { return connection }
        guard let url = configuration.databaseURL else {
            logger.error("DATABASE_URL is not set")
            throw APIError(.unavailable, "the database is not configured")
        }
        do {
            let c = try Connection(url: url)
            connection = c
            return c
        } catch {
            logger.error("cannot connect to the database", metadata: ["error": "\(error)"])
            throw APIError(.unavailable, "the database is unreachable; retry shortly")
        }
    }
}
