import Dispatch

/// Tenant keys a worker resolved in the last few seconds, by digest.
///
/// Every tenant request used to cost a database round trip for its key before any work. A
/// worker now remembers a successful lookup for a few seconds (`FunctionContext.tenantKeyTTL`), so a revoked key stops working
/// within that time rather than at once. Failed lookups are never remembered: a wrong key always
/// reaches the database, and one that was just created works immediately.
final class TenantKeyCache {
    /// How long a resolved key is trusted without asking the database again, by default.
    static let defaultTTL = 5.0
    /// Bound on remembered keys; the cache starts over when full.
    static let capacity = 1024

    private var entries: [[UInt8]: (org: Int64, expires: UInt64)] = [:]
    /// The clock entries expire by (monotonic nanoseconds); tests move it instead of sleeping.
    var nowNs: () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }

    func org(for digest: [UInt8]) -> Int64? {
        guard let entry = entries[digest] else { return nil }
        guard nowNs() < entry.expires else {
            entries[digest] = nil
            return nil
        }
        return entry.org
    }

    func remember(_ digest: [UInt8], org: Int64, ttl: Double) {
        guard ttl > 0 else { return }
        if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
        entries[digest] = (org, nowNs() + UInt64(ttl * 1e9))
    }
}
