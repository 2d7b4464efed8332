import FoundationEssentials

/// The long poll: an invocation given `waitSeconds` stays for work that has not come yet. It
/// hears enqueues on its own connection (LISTEN), so a job enqueued while it waits starts within
/// one claim's round trip, with no caller, web server or new process in between.
extension BatchRun {
    /// True while an idle invocation should wait for work rather than answer.
    func isWaiting(_ now: UInt64) -> Bool {
        now < waitEndNs && stoppingAtNs == nil && summary.claimed < options.maxJobs
    }

    /// When a waiting invocation claims again without having heard anything: the next scheduled
    /// job's time, or `idleRecheck` after the last claim, for work that comes back without a
    /// notification (a retry's backoff ending elsewhere, a lease rescued, a job released).
    func recheckNs() -> UInt64 {
        let recheck = max(dryAtNs ?? 0, lastClaimNs) &+ UInt64(Processor.idleRecheck * 1e9)
        return min(recheck, nextScheduledNs ?? .max)
    }

    /// Waits for the next thing to do: an attempt's end, a deadline, or (when listening) an
    /// enqueue. What is heard reopens claiming at once.
    func pause(_ now: UInt64) throws {
        if listening, scheduledStale, active.isEmpty, queuedCount == 0, isWaiting(now) {
            lookUpNextScheduled()
        }
        let wake = nextWake(Monotonic.nanoseconds())
        guard listening else {
            completions.wait(untilNs: wake)
            return
        }
        let timeout = Double(wake &- min(wake, Monotonic.nanoseconds())) / 1e9
        let heard: WorkHeard
        do {
            heard = try processor.store.waitForWork(queues: options.queues, timeout: timeout, wakeFD: completions.fd)
        } catch {
            // The connection dropped: what was sent meanwhile is lost, so look again once it is back.
            scheduledStale = true
            try storageFailed(error)
            dryAtNs = nil
            return
        }
        if heard.due, stoppingAtNs == nil { dryAtNs = nil }
        if heard.scheduled { scheduledStale = true }
    }

    /// Reads when the next scheduled job comes due, as a time on the monotonic clock.
    func lookUpNextScheduled() {
        scheduledStale = false
        guard let next = try? processor.store.nextScheduled(queues: options.queues) else {
            nextScheduledNs = nil
            return
        }
        let seconds = max(0, next.timeIntervalSinceNow)
        nextScheduledNs = Monotonic.nanoseconds() &+ UInt64(min(seconds, 3600) * 1e9)
    }

    /// Ends the LISTEN, so the connection goes back to its owner hearing nothing.
    func stopListening() {
        guard listening else { return }
        listening = false
        do {
            try processor.store.stopListening()
        } catch {
            processor.logger.warning("cannot stop listening for enqueues", metadata: ["error": "\(error)"])
        }
    }
}
