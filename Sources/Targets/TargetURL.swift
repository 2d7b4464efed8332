import Curl

/// What a target's URL must be.
public enum TargetURL {
    /// Why `url` cannot be a target, or nil: http or https, a host, no credentials (they would
    /// be secrets in plain sight; the signature authenticates the delivery), no fragment, no
    /// spaces or control characters.
    public static func problem(with url: String) -> String? {
        guard url.utf8.count <= 2048 else { return "is longer than 2048 bytes" }
        guard !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return "contains spaces or control characters" }
        let lower = url.lowercased()
        guard let schemeEnd = lower.firstRange(of: "://"), ["http", "https"].contains(lower[..<schemeEnd.lowerBound]) else {
            return "must be an http:// or https:// URL"
        }
        guard !authority(url).isEmpty, !authority(url).hasPrefix(":") else { return "has no host" }
        guard !authority(url).contains("@") else { return "must not carry credentials; the signature authenticates the delivery" }
        guard !url.contains("#") else { return "must not have a fragment" }
        return nil
    }

    /// The stricter rule for a tenant's URL: https unless the operator allows http, and a
    /// literal address only where the policy allows (a host name is checked at each delivery,
    /// on the address it resolves to).
    public static func problem(with url: String, policy: TenantTargets.Policy) -> String? {
        if let problem = problem(with: url) { return problem }
        if !policy.allowHTTP, !url.lowercased().hasPrefix("https://") { return "must be an https:// URL" }
        var host = Substring(authority(url))
        if host.hasPrefix("[") {
            host = host.dropFirst().prefix { $0 != "]" }
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        if let address = IPAddress(String(host)), !policy.addresses.allows(address) {
            return "points at \(address), an address inside the host's networks that targets may not reach"
        }
        return nil
    }

    static func authority(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://") else { return "" }
        return String(url[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" && $0 != "#" })
    }
}
