import Cron
import Foundation

/// Turns SIGTERM and SIGINT into a stop request, handled on a dedicated thread.
///
/// The signals are blocked in every thread and taken with `sigwait`, instead of ignored plus a
/// handler: an ignored signal stays ignored in the children `run` starts, a blocked one does
/// not (Foundation's `Process` clears the mask). A second signal exits at once.
enum StopOnSignals {
    /// Blocks the signals and starts the waiting thread. Call before any other thread starts,
    /// so all of them inherit the mask.
    static func install(_ stop: CronStopSignal, announce: @escaping @Sendable (String) -> Void) {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let waited = signals
        let thread = Thread {
            var set = waited
            var received = 0
            while true {
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                received += 1
                let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
                if received > 1 {
                    announce("\(name) again: exiting now")
                    exit(1)
                }
                announce("\(name): stopping (no new calls; waiting for running ones)")
                stop.requestStop()
            }
        }
        thread.name = "signals"
        thread.start()
    }
}
