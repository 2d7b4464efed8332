import Accounts
import Digest
import Foundation
import Postgres
import Testing

struct APIKeyTests {
    @Test func keysAreLongRandomAndPrefixed() {
        let keys = (0..<100).map { _ in APIKey.generate() }
        #expect(Set(keys).count == 100)
        #expect(keys.allSatisfy { $0.hasPrefix("cvk_") && $0.count == 68 })
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
