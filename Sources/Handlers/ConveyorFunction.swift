import FoundationEssentials
import JobQueue
import Synchronization

/// One function's call: the request, its path parameters, who called, and — when it runs as a
/// job — the job it is running as.
public struct Invocation: Sendable {
    public var request: HTTPRequest
    public var pathParams: [String: String]
    public var caller: Caller
    /// Set when process-batch runs the function as a job.
    public var job: JobContext?

    public init(request: HTTPRequest, pathParams: [String: String] = [:], caller: Caller, job: JobContext? = nil) {
        self.request = request
        self.pathParams = pathParams
        self.caller = caller
        self.job = job
    }
}

/// A function: decode, validate, one engine call, encode. It holds no state and no SQL.
public protocol ConveyorFunction: Sendable {
    /// The name functions.json knows it by.
    var name: String { get }
    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse
}

/// The functions a host serves: Conveyor's own (`all`), and those a Swift team registered
/// before starting its host (`register`). Routers are built with `hosted`, and process-batch
/// runs the functions of the router that called it, so what the router knows is what runs.
public enum FunctionRegistry {
    private static let added = Mutex<[any ConveyorFunction]>([])

    /// Adds functions of your own; call it before the host starts (first thing in `main`).
    public static func register(_ functions: [any ConveyorFunction]) {
        added.withLock { $0 += functions }
    }

    /// Adds job functions of your own (see `JobFunction`).
    public static func register<F: JobFunction>(_ function: F) {
        register([JobFunctionAdapter(function)])
    }

    /// Conveyor's functions and the registered ones: what a host's router is built with.
    public static var hosted: [any ConveyorFunction] { all + added.withLock { $0 } }

    /// Conveyor's own functions. A test checks these names against functions.json.
    public static let all: [any ConveyorFunction] = [
        EnqueueFunction(),
        ProcessBatchFunction(),
        JobStatusFunction(),
        ListJobsFunction(),
        HealthFunction(),
        PoolStatusFunction(),
        NoopFunction(),
        FailFunction(),
        SleepFunction(),
        RouteIntakeFunction(),
        UpsertPipelineFunction(),
        ListPipelinesFunction(),
        ListIntakeFunction(),
        GetIntakeFunction(),
        AssignIntakeFunction(),
        SendEmailFunction(),
        ListQueuesFunction(),
        GetQueueFunction(),
        PutQueueFunction(),
        UpdateQueueFunction(),
        QueueMetricsFunction(),
        JobStatsFunction(),
        ListAdminJobsFunction(),
        RetryJobFunction(),
        CancelJobFunction(),
        RetryDeadFunction(),
        PurgeJobsFunction(),
        PauseQueueFunction.pause,
        PauseQueueFunction.resume,
        RetentionFunction(),
        PrometheusMetricsFunction(),
        AlertsFunction(),
        DashboardFunction(),
        DashboardLoginFunction(),
        DashboardLogoutFunction(),
        PutTargetFunction(),
        ListTargetsFunction(),
        GetTargetFunction(),
        RotateTargetSecretFunction(),
        DeleteTargetFunction(),
        TenantTargetKindFunction(),
        ReportProgressFunction(),
        ListOrganizationsFunction(),
        CreateOrganizationFunction(),
        RotateOrganizationKeyFunction(),
        RevokeOrganizationKeysFunction(),
        GetPipelineFunction(),
        PutScheduleFunction(),
        ListSchedulesFunction(),
        GetScheduleFunction(),
        PauseScheduleFunction(name: "pause-schedule", paused: true),
        PauseScheduleFunction(name: "resume-schedule", paused: false),
        DeleteScheduleFunction(),
        ListAllSchedulesFunction(),
        // @functions: new functions above this line
    ]

    public static var byName: [String: any ConveyorFunction] {
        Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
