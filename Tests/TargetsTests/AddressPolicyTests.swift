import Curl
import Targets
import Testing

/// Which addresses a tenant's target may reach.
struct AddressPolicyTests {
    @Test(arguments: [
        "127.0.0.1", "127.8.9.10", "10.0.0.5", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
        "::1", "::", "fe80::1", "fd00:ec2::254", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.5", "64:ff9b::a00:5",
    ])
    func insideAddressesAreRefusedByDefault(text: String) throws {
        #expect(!AddressPolicy().allows(try #require(IPAddress(text))))
    }

    @Test(arguments: ["93.184.216.34", "8.8.8.8", "172.32.0.1", "172.15.255.255", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
    func publicAddressesAreAllowed(text: String) throws {
        #expect(AddressPolicy().allows(try #require(IPAddress(text))))
    }

    @Test func theOperatorOpensOnlyWhatItLists() throws {
        let policy = try AddressPolicy(parsing: "127.0.0.0/8, fd00::/8")
        #expect(policy.allows(IPAddress("127.0.0.1")!))
        #expect(policy.allows(IPAddress("::ffff:127.0.0.1")!))
        #expect(policy.allows(IPAddress("fd12::1")!))
        #expect(!policy.allows(IPAddress("10.0.0.5")!))
        #expect(!policy.allows(IPAddress("::1")!))
        #expect(!policy.allows(IPAddress("169.254.169.254")!))
    }

    @Test(arguments: ["10.0.0.0/33", "10.0.0.0/-1", "localhost/8", "fd00::/129", "10.0.0.0/8x"])
    func aBadRangeIsNamed(text: String) {
        do {
            _ = try AddressPolicy(parsing: "127.0.0.0/8 \(text)")
            Issue.record("accepted \(text)")
        } catch {
            #expect("\(error)".contains(text))
        }
    }

    @Test func aSingleAddressIsARangeOfOne() {
        let one = CIDR("192.0.2.7")!
        #expect(one.prefixLength == 32)
        #expect(one.contains(IPAddress("192.0.2.7")!))
        #expect(!one.contains(IPAddress("192.0.2.8")!))
        #expect(!one.contains(IPAddress("::1")!), "families never mix")
    }
}
