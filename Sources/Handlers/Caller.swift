/// Who is calling, once the router has checked the key.
public enum Caller: Sendable, Equatable {
    case anonymous
    /// A tenant; every query it causes is scoped to this org.
    case tenant(orgId: Int64)
    /// The process-batch caller: the cron driver, or a job runner.
    case processor
    case admin
    /// The metrics key: reads /metrics and nothing else.
    case metricsReader

    /// The tenant's org, or a 403 for callers that have none.
    public func requireOrg() throws -> Int64 {
        if case .tenant(let org) = self { return org }
        throw APIError(.forbidden, "this function needs a tenant key")
    }
}

/// The key a function demands, as functions.json declares it.
public enum AuthLevel: String, Sendable, Codable, CaseIterable {
    case none, tenant, processor, admin
    /// `CONVEYOR_METRICS_KEY`, a read-only key for a scraper (the admin key works too).
    case metrics
}
