import FoundationEssentials
import JobQueue

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

/// Every function this build contains. A test checks these names against functions.json.
public enum FunctionRegistry {
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
        // @functions: new functions above this line
    ]

    public static var byName: [String: any ConveyorFunction] {
        Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}
