import Accounts
import Foundation
import Postgres
import Testing

struct SHA256Tests {
    /// NIST FIPS 180-4 examples, plus lengths around the 55/56/64-byte padding edges.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        (String(repeating: "a", count: 55), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (String(repeating: "a", count: 56), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        (String(repeating: "a", count: 64), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
    ])
    func vectors(input: String, hex: String) {
        #expect(SHA256.hex(SHA256.hash(input)) == hex)
    }

    @Test func millionAs() {
        let digest = SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000))
        #expect(SHA256.hex(digest) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

struct APIKeyTests {
    @Test func keysAreLongRandomAndPrefixed() {
        let keys = (0..<100).map { _ in APIKey.generate() }
        #expect(Set(keys).count == 100)
        #expect(keys.allSatisfy { $0.hasPrefix("cvk_") && $0.count == 68 })
    }

    @Test(arguments: [
        ([UInt8](), [UInt8](), true),
        ([1, 2, 3], [1, 2, 3], true),
        ([1, 2, 3], [1, 2, 4], false),
        ([1, 2, 3], [1, 2], false),
        ([0], [128], false),
    ] as [([UInt8], [UInt8], Bool)])
    func constantTimeEquals(a: [UInt8], b: [UInt8], equal: Bool) {
        #expect(APIKey.constantTimeEquals(a, b) == equal)
    }

    @Test func matchesComparesWholeKeys() {
        #expect(APIKey.matches("secret", expected: "secret"))
        #expect(!APIKey.matches("secre", expected: "secret"))
        #expect(!APIKey.matches("secret ", expected: "secret"))
        #expect(!APIKey.matches("", expected: "secret"))
    }
}

struct OrganizationStoreTests {
    static func connect() throws -> Connection {
        guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"] else {
            Issue.record("DATABASE_URL is not set: run the tests through scripts/test")
            throw PostgresError(.configuration, message: "DATABASE_URL is not set")
        }
        let c = try Connection(url: url)
        try Migrator.migrate(AccountsSchema.migrations, on: c)
        return c
    }

    @Test func keysResolveToTheirOrgAndOnlyTheHashIsStored() throws {
        let db = try Self.connect()
        let store = OrganizationStore(connection: db)
        let (acme, acmeKey) = try store.create(name: "  Acme  ")
        let (globex, globexKey) = try store.create(name: "Globex")
        #expect(acme.name == "Acme")
        #expect(try store.organization(forKey: acmeKey) == acme.id)
        #expect(try store.organization(forKey: globexKey) == globex.id)
        #expect(try store.organization(forKey: acmeKey + "x") == nil)
        #expect(try store.organization(forKey: "") == nil)

        let stored = try db.query("SELECT key_hash, encode(key_hash, 'hex') AS hex FROM conveyor_api_keys WHERE org_id = \(acme.id)")
        #expect(stored.count == 1)
        #expect(try stored[0].decode("hex", as: String.self) == SHA256.hex(SHA256.hash(acmeKey)))
        let leaked = try db.query("SELECT count(*)::int AS n FROM conveyor_api_keys WHERE position(\(acmeKey) in coalesce(label, '')) > 0")
        #expect(try leaked[0].decode("n", as: Int.self) == 0)
    }

    @Test func rotationAndRevocation() throws {
        let store = OrganizationStore(connection: try Self.connect())
        let (org, first) = try store.create(name: "Rotating")
        let second = try store.issueKey(orgId: org.id, label: "rotation")
        #expect(try store.organization(forKey: second) == org.id)
        #expect(try store.revoke(key: first))
        #expect(try store.organization(forKey: first) == nil)
        #expect(try store.organization(forKey: second) == org.id)
        #expect(try store.revoke(key: first) == false)
    }

    @Test func namesAreValidated() throws {
        let store = OrganizationStore(connection: try Self.connect())
        #expect(throws: PostgresError.self) { try store.create(name: "   ") }
        #expect(throws: PostgresError.self) { try store.create(name: String(repeating: "n", count: 201)) }
    }
}
