import Dispatch
import FoundationEssentials
import JobQueue
import Schedules
import Targets

/// `process-batch`: rescues expired leases, then claims due jobs and runs them concurrently
/// (up to `parallelism` at once), each within its deadline, until `maxJobs` or `maxSeconds`,
/// and answers with a summary. With `waitSeconds` it is a long poll: while nothing is due it
/// waits that long for enqueues instead of answering. The cron driver calls it with the
/// processor key.
struct ProcessBatchFunction: ConveyorFunction {
    let name = "process-batch"

    struct Body: Decodable {
        var queues: [String]?
        var maxJobs: Int?
        var maxSeconds: Double?
        var leaseSeconds: Double?
        var parallelism: Int?
        var waitSeconds: Double?

        enum CodingKeys: String, CodingKey { case queues, maxJobs, maxSeconds, leaseSeconds, parallelism, waitSeconds }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            queues = try c.decodeIfPresent([String].self, forKey: .queues)
            maxJobs = try c.decodeWholeNumberIfPresent(forKey: .maxJobs)
            maxSeconds = try c.decodeIfPresent(Double.self, forKey: .maxSeconds)
            leaseSeconds = try c.decodeIfPresent(Double.self, forKey: .leaseSeconds)
            parallelism = try c.decodeWholeNumberIfPresent(forKey: .parallelism)
            waitSeconds = try c.decodeIfPresent(Double.self, forKey: .waitSeconds)
        }
    }

    /// The most jobs one invocation may claim.
    static let maxJobsLimit = 10_000

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        // A misspelt option must not silently run a batch over every queue.
        let body = try BodyDecoder.decode(Body.self, from: invocation.request, emptyMeans: "{}",
                                          allowed: ["queues", "maxJobs", "maxSeconds", "leaseSeconds", "parallelism", "waitSeconds"])
        let options = try Self.options(body)
        Self.fireSchedules(context)
        let store = PostgresJobStore(connection: try context.database(), listener: options.waitSeconds > 0 ? context.listeningDatabase() : nil)
        let functions = TaskJobExecutor(runner: FunctionRunner(functions: context.functions, context: context))
        let databases = context.jobConnectionPool()
        // A misconfigured allowlist (logged) must not stop every other job: the strictest policy
        // (https only, nothing inside the host's networks) applies instead.
        let tenantTargets = TenantTargets(policy: (try? context.targetPolicy()) ?? TenantTargets.Policy(),
                                          progress: context.configuration.processorKey.map(ProgressTokens.init)) { org, name in
            guard let databases else { return nil }
            let connection = try databases.checkout()
            defer { databases.checkin(connection) }
            return try TenantTargetStore(connection: connection).signing(orgId: org, name: name)
        }
        let executor = KindExecutor(targets: context.manifest.targets, tenantTargets: tenantTargets, functions: functions)
        let processor = Processor(store: store, executor: executor,
                                  kinds: context.jobKinds, logger: context.logger)
        processor.shouldStop = context.shouldStop
        processor.stopGraceSeconds = context.stopGraceSeconds
        let summary = try processor.run(options)
        if summary.abandoned > 0 { context.mustRecycle = true }
        return .json(200, raw: summary.json)
    }

    /// Turns the slots of stored schedules that fall within the next two minutes into their jobs
    /// (`ScheduleStore.fireDue`), at most once a second per worker: every driver's calls do it,
    /// the crontab's each minute and watch's long polls every few seconds, and the slots' keys
    /// make it one job per slot however many do. A failure here is logged; the batch goes on.
    static func fireSchedules(_ context: FunctionContext) {
        let now = DispatchTime.now().uptimeNanoseconds
        guard context.schedulesFiredNs == 0 || now &- context.schedulesFiredNs >= 1_000_000_000 else { return }
        context.schedulesFiredNs = now
        do {
            let summary = try ScheduleStore(connection: try context.database()).fireDue(kinds: context.jobKinds) { job, org in
                // As an enqueue of the org's: a tenant target's own limit and flow key, and it must exist.
                var jobs = [job]
                try TargetFunctions.bind(&jobs, org: org, context: context, field: { _ in "job.kind" })
                job = jobs[0]
            }
            for line in summary.late { context.logger.warning("\(line)") }
            for line in summary.skipped { context.logger.warning("\(line)") }
            if summary.fired > 0 { context.logger.info("schedules fired", metadata: ["jobs": "\(summary.fired)"]) }
        } catch {
            context.logger.warning("schedules not fired", metadata: ["error": "\(error)"])
        }
    }

    static func options(_ body: Body) throws -> BatchOptions {
        let maxJobs = body.maxJobs ?? 100
        guard (1...maxJobsLimit).contains(maxJobs) else {
            throw APIError(.invalidInput, "maxJobs: must be between 1 and \(maxJobsLimit)", details: ["field": "maxJobs"])
        }
        let maxSeconds = body.maxSeconds ?? 50
        guard maxSeconds.isFinite, maxSeconds > 0, maxSeconds <= 600 else {
            throw APIError(.invalidInput, "maxSeconds: must be more than 0 and at most 600", details: ["field": "maxSeconds"])
        }
        if let lease = body.leaseSeconds {
            guard lease.isFinite, lease >= 1, lease <= 86_400 else {
                throw APIError(.invalidInput, "leaseSeconds: must be between 1 and 86400", details: ["field": "leaseSeconds"])
            }
        }
        let parallelism = body.parallelism ?? BatchOptions.defaultParallelism
        guard (1...BatchOptions.maxParallelism).contains(parallelism) else {
            throw APIError(.invalidInput, "parallelism: must be between 1 and \(BatchOptions.maxParallelism)", details: ["field": "parallelism"])
        }
        let waitSeconds = body.waitSeconds ?? 0
        guard waitSeconds.isFinite, waitSeconds >= 0, waitSeconds <= maxSeconds else {
            throw APIError(.invalidInput, "waitSeconds: must be between 0 and maxSeconds",
                           details: ["field": "waitSeconds"])
        }
        if let queues = body.queues {
            guard (1...100).contains(queues.count) else {
                throw APIError(.invalidInput, "queues: must list 1 to 100 queues, or be left out for all", details: ["field": "queues"])
            }
            if let bad = queues.firstIndex(where: { !JobRequest.isValidQueueName($0) }) {
                throw APIError(.invalidInput, "queues[\(bad)]: is not a valid queue name", details: ["field": .string("queues[\(bad)]")])
            }
        }
        return BatchOptions(queues: body.queues, maxJobs: maxJobs, maxSeconds: maxSeconds, leaseSeconds: body.leaseSeconds,
                            parallelism: parallelism, waitSeconds: waitSeconds)
    }
}

