import JobQueue
import Targets

/// Hands each attempt to what runs its kind: the kind's target (the user's endpoint) when
/// functions.json gives one, else the build's own function on `functions`.
struct KindExecutor: JobExecutor {
    let targets: [String: any JobTarget]
    let functions: any JobExecutor

    func start(_ attempt: RunningAttempt) {
        if let target = targets[attempt.job.kind] {
            target.start(attempt)
        } else {
            functions.start(attempt)
        }
    }
}
