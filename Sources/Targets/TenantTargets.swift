import Curl
import Dispatch
import FoundationEssentials
import JobQueue
import Synchronization

/// Runs `target:NAME` jobs: a POST to the job's org's own target NAME, signed with that
/// target's secrets, to an address the policy allows.
///
/// A target is looked up by the job's org and the name, so no org can deliver to another's.
/// Lookups are cached for a few seconds (a changed URL or a rotated secret applies within
/// `cacheSeconds`) and made on a pool thread, never on the batch's.
public final class TenantTargets: JobExecutor, @unchecked Sendable {
    /// The prefix of the kinds this runs.
    public static let kindPrefix = "target:"
    public static let cacheSeconds = 5.0

    public struct Policy: Sendable {
        public var addresses: AddressPolicy
        /// Plain http:// targets; https only unless the operator allows it.
        public var allowHTTP: Bool
        public var maxResultBytes: Int

        public init(addresses: AddressPolicy = AddressPolicy(), allowHTTP: Bool = false, maxResultBytes: Int = HTTPTarget.defaultMaxResultBytes) {
            self.addresses = addresses
            self.allowHTTP = allowHTTP
            self.maxResultBytes = maxResultBytes
        }
    }

    public let policy: Policy
    let progress: ProgressTokens?
    private let lookup: @Sendable (Int64, String) throws -> TenantTargetSigning?
    private let pool: BlockingPool
    private struct Key: Hashable { var org: Int64; var name: String }
    private let cache = Mutex<[Key: (target: HTTPTarget?, until: UInt64)]>([:])

    /// `lookup` reads one org's target (it blocks: it runs on `pool`).
    public init(policy: Policy, progress: ProgressTokens? = nil, pool: BlockingPool = .shared,
                lookup: @escaping @Sendable (Int64, String) throws -> TenantTargetSigning?) {
        self.policy = policy
        self.progress = progress
        self.pool = pool
        self.lookup = lookup
    }

    public func start(_ attempt: RunningAttempt) {
        let key = Key(org: attempt.job.orgId, name: String(attempt.job.kind.dropFirst(Self.kindPrefix.count)))
        let now = DispatchTime.now().uptimeNanoseconds
        if let cached = cache.withLock({ $0[key] }), cached.until > now {
            deliver(attempt, with: cached.target, name: key.name)
            return
        }
        pool.submit { [self] in
            guard !attempt.isCancelled else {
                attempt.finish(.failure(AttemptNotStarted()))
                return
            }
            let target: HTTPTarget?
            do {
                target = try lookup(key.org, key.name).map(self.target)
            } catch {
                // The database is the engine's to worry about; this attempt is tried again.
                attempt.finish(.failure(JobFailure("the target could not be looked up; retrying")))
                return
            }
            cache.withLock { $0[key] = (target, DispatchTime.now().uptimeNanoseconds + UInt64(Self.cacheSeconds * 1e9)) }
            deliver(attempt, with: target, name: key.name)
        }
    }

    private func deliver(_ attempt: RunningAttempt, with target: HTTPTarget?, name: String) {
        guard let target else {
            attempt.finish(.failure(JobFailure("this org has no target named \(name.prefix(64))", retryable: false)), answer: "no target")
            return
        }
        if !policy.allowHTTP, !target.url.lowercased().hasPrefix("https://") {
            attempt.finish(.failure(JobFailure("the target's URL is not https, and this deployment delivers to https only", retryable: false)),
                           answer: "not allowed")
            return
        }
        target.start(attempt)
    }

    /// The delivery for a target's row: its secrets, and the address check on every connection.
    func target(_ signing: TenantTargetSigning) throws -> HTTPTarget {
        let addresses = policy.addresses
        return HTTPTarget(url: signing.url, signer: try WebhookSigner(parsing: signing.secrets.joined(separator: " ")),
                          allowAddress: { addresses.allows($0) }, maxResultBytes: policy.maxResultBytes, progress: progress)
    }
}
