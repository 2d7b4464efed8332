import JobQueue
import Targets

/// Hands each attempt to what runs its kind: the kind's target (the operator's endpoint or
/// program) when functions.json gives one, the org's own target for `target:NAME`, else the
/// build's own function on `functions`.
struct KindExecutor: JobExecutor {
    let targets: [String: any JobTarget]
    let tenantTargets: TenantTargets
    let functions: any JobExecutor

    func start(_ attempt: RunningAttempt) {
        if let target = targets[attempt.job.kind] {
            target.start(attempt)
        } else if attempt.job.kind.hasPrefix(TenantTargets.kindPrefix) {
            tenantTargets.start(attempt)
        } else {
            functions.start(attempt)
        }
    }
}
