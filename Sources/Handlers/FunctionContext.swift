import FoundationEssentials
import JobQueue
import Logging
import Postgres
import Targets

/// Everything a function may use. Functions keep no state of their own; a host builds one context
/// per worker and reuses it, so the database connection is opened once, lazily.
public final class FunctionContext {
    public let configuration: Configuration
    public let manifest: FunctionManifest
    /// The log; during a request its lines carry the request id, the function and the org.
    public internal(set) var logger: Logger
    /// The clock; tests may pin it.
    public var now: () -> Date = Date.init
    /// The host's worker-pool report (PHP-FPM style), for `pool-status`; nil in hosts without a pool.
    public var poolStatus: (() -> JSONValue)?
    /// Set by a host that can be told to stop (SIGTERM): process-batch asks it between steps and
    /// then claims nothing more, hands back what it has not started, and gives running jobs
    /// `stopGraceSeconds`.
    public var shouldStop: (() -> Bool)?
    public var stopGraceSeconds = 5.0
    /// The functions jobs run as: the router's that called the function (see `FunctionRegistry`).
    public internal(set) var functions: [String: any ConveyorFunction] = FunctionRegistry.byName
    /// Set when a job's work would not stop at its deadline: the host should end this process
    /// once the answer is out, so the stray work ends with it.
    public var mustRecycle = false
    private var connection: Connection?
    private var listening: Connection?
    /// When process-batch last fired due schedules in this worker (monotonic ns; 0: never).
    var schedulesFiredNs: UInt64 = 0
    /// Where a job's own database session comes from: jobs run at once, so each needs its own.
    private let jobDatabases: ConnectionPool?
    private var jobConnection: Connection?
    /// Connections for the jobs this worker runs, opened on demand.
    private var jobPool: ConnectionPool?
    /// Tenant keys this worker resolved recently (see `TenantKeyCache`).
    let tenantKeys = TenantKeyCache()
    /// Seconds a resolved tenant key is trusted before the database is asked again; a revoked key
    /// stops working within this time. 0 asks every time.
    public var tenantKeyTTL = TenantKeyCache.defaultTTL

    /// The bounds the database work of the function now running gets: its `timeoutSeconds` as
    /// statement_timeout, `lockTimeoutSeconds` as lock_timeout. Set by the router per request,
    /// and by process-batch per job from the job's deadline.
    public var timeBounds: TimeBounds?
    /// `CONVEYOR_DB_LOCK_TIMEOUT_SECONDS` (default 3): the longest any statement waits for a lock.
    public private(set) lazy var lockTimeoutSeconds: Double = {
        guard let text = configuration["CONVEYOR_DB_LOCK_TIMEOUT_SECONDS"] else { return 3 }
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
            logger.error("CONVEYOR_DB_LOCK_TIMEOUT_SECONDS is not a number of seconds; using 3")
            return 3
        }
        return seconds
    }()

    public init(configuration: Configuration = Configuration(), manifest: FunctionManifest,
                logger: Logger = Logger(label: "conveyor"), connection: Connection? = nil) {
        self.configuration = configuration
        self.manifest = manifest
        self.logger = logger
        self.connection = connection
        self.jobDatabases = nil
    }

    /// The context of one job: the same settings, and a database session of its own from
    /// `databases`, taken on first use and given back by `endJob()`.
    init(job configuration: Configuration, manifest: FunctionManifest, logger: Logger, databases: ConnectionPool?) {
        self.configuration = configuration
        self.manifest = manifest
        self.logger = logger
        self.jobDatabases = databases
    }

    /// Gives the job's database session back to the pool.
    func endJob() {
        if let jobConnection, let jobDatabases { jobDatabases.checkin(jobConnection) }
        jobConnection = nil
    }

    /// The pool jobs of this worker take their sessions from; nil without DATABASE_URL.
    func jobConnectionPool() -> ConnectionPool? {
        if let jobPool { return jobPool }
        guard let url = configuration.databaseURL else { return nil }
        let pool = ConnectionPool(url: url, applicationName: "conveyor-jobs", maxIdle: 4, maxOpen: 64,
                                  schema: try? DatabaseSchema.fromEnvironment(configuration.environment),
                                  pooler: try? DatabasePooler.fromEnvironment(configuration.environment))
        jobPool = pool
        return pool
    }

    /// The operator's rules for tenants' targets: `CONVEYOR_TARGETS_ALLOW_CIDRS` (ranges inside
    /// the networks they may reach), `CONVEYOR_TARGETS_ALLOW_HTTP` (1 allows http://).
    public func targetPolicy() throws -> TenantTargets.Policy {
        do {
            return TenantTargets.Policy(addresses: try AddressPolicy(parsing: configuration["CONVEYOR_TARGETS_ALLOW_CIDRS"] ?? ""),
                                        allowHTTP: ["1", "true", "yes"].contains(configuration["CONVEYOR_TARGETS_ALLOW_HTTP"]?.lowercased() ?? ""))
        } catch {
            logger.error("CONVEYOR_TARGETS_ALLOW_CIDRS is not valid", metadata: ["error": "\(error)"])
            throw APIError(.unavailable, "the deployment's target policy is misconfigured")
        }
    }

    /// The most targets an org may have (`CONVEYOR_TARGETS_PER_ORG`, default 50).
    public var maxTargetsPerOrg: Int {
        configuration["CONVEYOR_TARGETS_PER_ORG"].flatMap(Int.init).map { max(0, $0) } ?? 50
    }

    /// The most schedules an org may have (`CONVEYOR_SCHEDULES_PER_ORG`, default 100).
    public var maxSchedulesPerOrg: Int {
        configuration["CONVEYOR_SCHEDULES_PER_ORG"].flatMap(Int.init).map { max(0, $0) } ?? 100
    }

    /// The job kinds the manifest declares.
    public var jobKinds: JobKinds { manifest.jobKinds }

    /// A session of its own for LISTEN when the worker's connection goes through a transaction
    /// pooler (`CONVEYOR_DATABASE_POOLER=transaction`): `CONVEYOR_LISTEN_DATABASE_URL`, opened on
    /// first use and kept. Nil otherwise, or when it cannot be opened (logged): a long poll then
    /// falls back to claiming every few seconds.
    public func listeningDatabase() -> Connection? {
        if let listening { return listening }
        guard (try? DatabasePooler.fromEnvironment(configuration.environment)) == .transaction,
              let url = configuration["CONVEYOR_LISTEN_DATABASE_URL"] else { return nil }
        do {
            let c = try Connection(url: url, applicationName: "conveyor-listen",
                                   schema: DatabaseSchema.fromEnvironment(configuration.environment), pooler: DatabasePooler.none)
            listening = c
            return c
        } catch {
            logger.warning("cannot open CONVEYOR_LISTEN_DATABASE_URL", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The worker's connection, opened on first use. A database that cannot be reached is a 503.
    public func database() throws -> Connection {
        let c = try openDatabase()
        c.bound(timeBounds)
        return c
    }

    private func openDatabase() throws -> Connection {
        if let connection { return connection }
        if let jobDatabases {
            if let jobConnection { return jobConnection }
            do {
                let c = try jobDatabases.checkout()
                jobConnection = c
                return c
            } catch {
                logger.error("cannot connect to the database", metadata: ["error": "\(error)"])
                throw APIError(.unavailable, "the database is unreachable; retry shortly")
            }
        }
        guard let url = configuration.databaseURL else {
            logger.error("DATABASE_URL is not set")
            throw APIError(.unavailable, "the database is not configured")
        }
        do {
            let c = try Connection(url: url, schema: DatabaseSchema.fromEnvironment(configuration.environment),
                                   pooler: DatabasePooler.fromEnvironment(configuration.environment))
            connection = c
            return c
        } catch {
            logger.error("cannot connect to the database", metadata: ["error": "\(error)"])
            throw APIError(.unavailable, "the database is unreachable; retry shortly")
        }
    }
}
