import Accounts
import FoundationEssentials

/// Decides who a request comes from, for the level its function demands.
///
/// A key is read from `x-api-key` (the seeds' convention) or `Authorization: Bearer` (the Vercel
/// cron convention). A missing or unknown key is 401; a valid key of the wrong kind is 403.
/// Keys are compared by digest in constant time and never logged.
struct Authenticator {
    let context: FunctionContext

    func authenticate(_ request: HTTPRequest, level: AuthLevel) throws -> Caller {
        if level == .none { return .anonymous }
        guard let key = Self.presentedKey(request) else {
            // The dashboard's session cookie stands for the admin key, for admin functions only.
            if level == .admin || level == .metrics, let token = try DashboardSession.liveToken(in: request, context: context) {
                // A browser sends the cookie wherever the request came from: what changes
                // something must come from the dashboard itself.
                if request.method != "GET" && request.method != "HEAD" { try DashboardSession.checkUnsafe(request, token: token) }
                return .admin
            }
            throw APIError(.unauthorized, "missing API key: send x-api-key or Authorization: Bearer")
        }
        let isAdmin = context.configuration.adminKey.map { APIKey.matches(key, expected: $0) } ?? false
        let isProcessor = context.configuration.processorKey.map { APIKey.matches(key, expected: $0) } ?? false
        let isMetrics = context.configuration.metricsKey.map { APIKey.matches(key, expected: $0) } ?? false
        switch level {
        case .none:
            return .anonymous
        case .admin:
            if isAdmin { return .admin }
        case .metrics:
            if isAdmin { return .admin }
            if isMetrics { return .metricsReader }
        case .processor:
            // The admin key is the operator's: it may do what the processor does.
            if isProcessor { return .processor }
            if isAdmin { return .admin }
        case .tenant:
            if isAdmin || isProcessor || isMetrics { throw Self.wrongScope(level) }
            if key.hasPrefix(APIKey.tenantPrefix), let org = try tenantOrg(key) {
                return .tenant(orgId: org)
            }
            throw APIError(.unauthorized, "invalid API key")
        }
        // A valid key of another level is a scope error; anything else is simply wrong.
        if isAdmin || isProcessor || isMetrics { throw Self.wrongScope(level) }
        if key.hasPrefix(APIKey.tenantPrefix), (try? tenantOrg(key)) != nil {
            throw Self.wrongScope(level)
        }
        throw APIError(.unauthorized, "invalid API key")
    }

    /// The org of a tenant key: from the worker's short-lived cache, else from the database.
    func tenantOrg(_ key: String) throws -> Int64? {
        let digest = APIKey.digest(key)
        if let org = context.tenantKeys.org(for: digest) { return org }
        guard let (org, endsAt) = try OrganizationStore(connection: context.database()).resolve(digest: digest) else { return nil }
        // A key in its grace period is never trusted past its end.
        let ttl = endsAt.map { min(context.tenantKeyTTL, $0.timeIntervalSinceNow) } ?? context.tenantKeyTTL
        context.tenantKeys.remember(digest, org: org, ttl: ttl)
        return org
    }

    static func wrongScope(_ level: AuthLevel) -> APIError {
        APIError(.forbidden, "this key cannot call this function: it needs the \(level.rawValue) key", details: ["requiredAuth": .string(level.rawValue)])
    }

    /// Drops surrounding spaces and tabs. Works on UTF-8 bytes: the Character-based version
    /// (reversed twice) was a sixth of a worker's CPU time per request under load.
    static func trimmed(_ s: String) -> String {
        let bytes = s.utf8
        let isBlank = { (b: UInt8) in b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else { return "" }
        if first == bytes.startIndex && last == bytes.index(before: bytes.endIndex) { return s }
        return String(s[first...last])
    }

    static func presentedKey(_ request: HTTPRequest) -> String? {
        if let k = request.header("x-api-key").map(Self.trimmed), !k.isEmpty { return k }
        if let auth = request.header("authorization") {
            let parts = auth.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let k = Self.trimmed(String(parts[1]))
                if !k.isEmpty { return k }
            }
        }
        return nil
    }
}
