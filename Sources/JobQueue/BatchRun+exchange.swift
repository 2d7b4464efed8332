import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// The invocation's round trips: what goes out together, what comes back, and when to wait.
extension BatchRun {
    /// The next round trip, or nil when none is due now.
    func nextExchange(_ now: UInt64) -> StoreExchange? {
        guard now >= storageRetryAtNs else { return nil }
        var exchange = StoreExchange()
        if !rescued { exchange.rescue = RescueRequest(queues: options.queues, limit: Processor.rescueLimit) }
        exchange.claim = claimRequest(now)
        let idle = active.isEmpty && queuedCount == 0
        let flushDue = pending.count >= Processor.flushEvery
            || (!pending.isEmpty && (idle || now &- lastFlushNs >= UInt64(Processor.flushInterval * 1e9)))
        // Outcomes ride along with any round trip that goes out anyway.
        if flushDue || (!pending.isEmpty && (exchange.claim != nil || exchange.rescue != nil || !releases.isEmpty)) {
            exchange.outcomes = pending.map(\.outcome)
        }
        exchange.release = releases
        return exchange.isEmpty ? nil : exchange
    }

    /// The claim to send now, if any.
    func claimRequest(_ now: UInt64) -> ClaimRequest? {
        guard stoppingAtNs == nil, summary.claimed < options.maxJobs else { return nil }
        // No attempt may end past the budget: only jobs whose limit fits what is left are
        // candidates (50 ms are kept for the claim's own round trip).
        let leftMs = now < endNs ? Int((endNs - now) / 1_000_000) - 50 : 0
        guard leftMs >= 1 else { return nil }
        let inHand = active.count + queuedCount
        let target = claimTarget()
        guard inHand < target else { return nil }
        if let dry = dryAtNs {
            if active.isEmpty && queuedCount == 0 {
                // Idle and dry: an invocation ends, unless it waits for work; then it claims
                // when it hears of some (which clears `dryAtNs`) or when a recheck is due.
                guard isWaiting(now), now >= recheckNs() else { return nil }
            } else {
                // The last claim came back short: offer free slots again now and then, while
                // jobs are still running here.
                guard active.count < options.parallelism,
                      now &- max(dry, lastClaimNs) >= UInt64(Processor.refillInterval * 1e9) else { return nil }
            }
        } else if inHand > 0 {
            // Refill in batches, not one claim per finished job.
            let batch = max(1, min(options.parallelism, target) / 8)
            guard target - inHand >= batch || now &- lastClaimNs >= 20_000_000 else { return nil }
        }
        let limit = min(Processor.claimLimit, options.maxJobs - summary.claimed, target - inHand)
        guard limit >= 1 else { return nil }
        return ClaimRequest(queues: options.queues, limit: limit, leaseSeconds: options.leaseSeconds, maxTimeoutMs: leftMs)
    }

    /// How many jobs to hold, running and waiting to start: the slots at first, then enough for
    /// `claimHorizon` of work at the pace seen so far (at most two claims' worth).
    func claimTarget() -> Int {
        guard paceJobs > 0 else { return options.parallelism }
        let perJob = max(Double(paceNs) / Double(paceJobs) / 1e9, 1e-6)
        let rate = Double(options.parallelism) / perJob
        let wanted = rate * Processor.claimHorizon
        return max(options.parallelism, Int(min(wanted, Double(2 * Processor.claimLimit))))
    }

    /// Sends `exchange` and applies what came back. While the server works, finished jobs are
    /// collected and waiting jobs started: the round trip overlaps the jobs' own work.
    func perform(_ exchange: StoreExchange) throws {
        let sentAt = Monotonic.nanoseconds()
        let sentOutcomes = exchange.outcomes.isEmpty ? [] : pending
        if !exchange.outcomes.isEmpty { pending.removeAll(keepingCapacity: true) }
        releases.removeAll(keepingCapacity: true)
        let wait = StoreWait(fd: completions.fd) { [unowned self] in
            absorb(completions.take())
            startQueued(Monotonic.nanoseconds())
        }
        let reply: StoreReply
        do {
            reply = try processor.store.exchange(exchange, owner: owner, wait: wait)
        } catch {
            // Nothing is known to have committed: keep everything for the next try.
            pending = sentOutcomes + pending
            releases = exchange.release + releases
            try storageFailed(error)
            return
        }
        if exchange.rescue != nil, let rescue = reply.rescued {
            rescued = true
            summary.rescued = rescue.total
        }
        if !exchange.outcomes.isEmpty {
            if let applied = reply.applied {
                tally(sentOutcomes, applied: applied)
                lastFlushNs = Monotonic.nanoseconds()
            } else {
                pending = sentOutcomes + pending
            }
        }
        if !exchange.release.isEmpty {
            if let released = reply.released {
                summary.released += released
                summary.claimed -= exchange.release.count
                // What went back is due work again: claim afresh (with new leases) if time allows.
                if stoppingAtNs == nil { dryAtNs = nil }
            } else {
                releases = exchange.release + releases
            }
        }
        if exchange.claim != nil {
            lastClaimNs = Monotonic.nanoseconds()
            if let next = nextScheduledNs, next <= sentAt {
                // That job was due for this claim: the next one is someone else's time.
                nextScheduledNs = nil
                scheduledStale = true
            }
            if let claimed = reply.claimed {
                summary.claimed += claimed.count
                for job in Processor.runOrder(claimed) {
                    queued.append(Held(job: job, leaseEndNs: sentAt &+ UInt64(job.leaseMs) &* 1_000_000))
                }
                // A claim shares itself among orgs, queues and keys, so a short one may leave due
                // jobs behind; an empty one does not (or they wait on a limit).
                dryAtNs = claimed.isEmpty ? lastClaimNs : nil
            }
            startQueued(Monotonic.nanoseconds())
        }
        if let failure = reply.failure {
            try storageFailed(failure)
        } else {
            storageFailures = 0
        }
    }

    /// Labels recorded outcomes; one not applied had been rescued from this invocation.
    func tally(_ sent: [(outcome: JobOutcome, kind: String)], applied: Set<Int64>) {
        for (outcome, kind) in sent {
            let label: String
            if !applied.contains(outcome.jobId) {
                label = "lost"
                summary.lost += 1
            } else {
                switch outcome.result {
                case .completed: label = "completed"; summary.completed += 1
                case .retry: label = "retried"; summary.retried += 1
                case .dead: label = "dead"; summary.dead += 1
                }
            }
            if summary.jobs.count < BatchSummary.maxListedJobs {
                summary.jobs.append(.init(id: outcome.jobId, kind: kind, outcome: label, ms: outcome.durationMs))
            } else {
                summary.unlistedJobs += 1
            }
        }
    }

    /// Storage failed: back off and try again until the budget (and its margin) is spent, then
    /// give up. Jobs not recorded stay running until their leases end, and the rescue takes them.
    func storageFailed(_ error: any Error) throws {
        storageFailures += 1
        lastStorageError = error
        let now = Monotonic.nanoseconds()
        if now >= endNs &+ UInt64(Processor.answerMargin / 2 * 1e9) {
            throw error
        }
        if storageFailures == 1 {
            processor.logger.warning("storage failed; retrying", metadata: ["error": "\(error)"])
        }
        let backoff = min(0.05 * pow(2, Double(min(storageFailures - 1, 6))), 1.0)
        storageRetryAtNs = now &+ UInt64(backoff * 1e9)
        // No new claims while storage fails.
        dryAtNs = now
    }

    /// True when the invocation has nothing left to do.
    func isDone(_ now: UInt64) -> Bool {
        guard active.isEmpty, queuedCount == 0, pending.isEmpty, releases.isEmpty, rescued || storageFailures > 0 else { return false }
        if stoppingAtNs != nil || summary.claimed >= options.maxJobs { return true }
        // An idle invocation whose last claim came back short, or whose time is up, is done,
        // unless it is a long poll still waiting for work.
        if isWaiting(now) { return false }
        return dryAtNs != nil || claimRequest(now) == nil
    }

    /// When to look again: the next deadline, flush, refill or retry, whichever comes first.
    func nextWake(_ now: UInt64) -> UInt64 {
        var wake = now &+ 1_000_000_000
        for a in active.values {
            let limit = limitNs(a)
            wake = min(wake, a.stoppedBy == nil ? limit : limit &+ UInt64(Processor.abandonAfter * 1e9))
        }
        if !pending.isEmpty { wake = min(wake, lastFlushNs &+ UInt64(Processor.flushInterval * 1e9)) }
        if dryAtNs != nil, active.count < options.parallelism, !active.isEmpty {
            wake = min(wake, max(dryAtNs!, lastClaimNs) &+ UInt64(Processor.refillInterval * 1e9))
        }
        if dryAtNs != nil, active.isEmpty, queuedCount == 0, isWaiting(now) {
            wake = min(wake, recheckNs(), waitEndNs)
        }
        if storageRetryAtNs > now { wake = min(wake, storageRetryAtNs) }
        if processor.shouldStop != nil { wake = min(wake, now &+ 50_000_000) }
        return max(wake, now &+ 100_000)
    }

    /// On the way out (an error thrown, say), jobs claimed and never started go back unspent.
    func handBackOnExit() {
        let unstarted = queued[queuedHead...].map(\.job.id) + releases
        guard !unstarted.isEmpty else { return }
        queued.removeAll()
        queuedHead = 0
        releases.removeAll()
        _ = try? processor.store.release(unstarted, owner: owner)
    }
}

