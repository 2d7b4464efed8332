import JobQueue

/// Where a job kind's work runs when it is not Swift code of the build: the engine starts its
/// attempts as an executor (HTTP deliveries on the transfer loop, with no task or thread per
/// job), and code outside a batch may await one as a runner.
public protocol JobTarget: JobExecutor, JobRunner {}
