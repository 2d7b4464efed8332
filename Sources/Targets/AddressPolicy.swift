import Curl

/// Which addresses a tenant's target may reach. A URL a tenant gives is hostile until resolved
/// and checked: by default nothing inside the host's networks (loopback, private, link-local
/// with the cloud metadata address, carrier-grade NAT, multicast, reserved) is allowed, unless
/// the operator lists the range in `allowed`.
///
/// The check runs on the address libcurl is about to connect to, after its own resolution, so
/// the address judged is the address used (no DNS rebinding between check and connect).
public struct AddressPolicy: Sendable {
    /// Ranges the operator opened (`CONVEYOR_TARGETS_ALLOW_CIDRS`), checked before the blocked ones.
    public let allowed: [CIDR]

    /// Never reachable by a tenant's target unless allowed.
    public static let blocked: [CIDR] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
    ].map { CIDR($0)! }

    public init(allowed: [CIDR] = []) {
        self.allowed = allowed
    }

    /// Reads a comma- or space-separated list of CIDR ranges; the error names the bad one.
    public init(parsing text: String) throws {
        let words = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" }).map(String.init)
        self.allowed = try words.map { word in
            guard let range = CIDR(word) else { throw AddressPolicyError("\(word.prefix(64)) is not a CIDR range such as 10.0.0.0/8 or fd00::/8") }
            return range
        }
    }

    /// True when a delivery may connect to `address`.
    public func allows(_ address: IPAddress) -> Bool {
        let address = address.unmapped
        if allowed.contains(where: { $0.contains(address) }) { return true }
        return !Self.blocked.contains { $0.contains(address) }
    }
}

/// An address range: `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.1`).
public struct CIDR: Sendable, Equatable, CustomStringConvertible {
    public let network: IPAddress
    public let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let address = IPAddress(parts[0]) else { return nil }
        let bits = address.bytes.count * 8
        let length: Int
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...bits).contains(n), parts[1].allSatisfy(\.isNumber) else { return nil }
            length = n
        } else {
            length = bits
        }
        self.network = address
        self.prefixLength = length
    }

    /// True when `address` (of the same family) lies in the range.
    public func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for (a, n) in zip(address.bytes, network.bytes) {
            guard remaining > 0 else { return true }
            let take = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if a & mask != n & mask { return false }
            remaining -= take
        }
        return true
    }

    public var description: String { "\(network)/\(prefixLength)" }
}

/// A bad allowlist entry.
public struct AddressPolicyError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
