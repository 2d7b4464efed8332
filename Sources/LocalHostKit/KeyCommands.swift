import Accounts
import ArgumentParser
import Foundation
import Handlers
import JobQueue

/// `local-host orgs`: every organization with how many keys work and when graced ones end.
struct Orgs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List organizations and their keys (never the keys themselves).")

    func run() throws {
        try LocalHost.reportingErrors {
            let store = OrganizationStore(connection: try LocalHost.connect())
            print("id\tname\tkeys\tending\tlast key ends")
            var after: Int64 = 0
            while true {
                let page = try store.organizations(after: after, limit: 500)
                for o in page {
                    print("\(o.id)\t\(o.name)\t\(o.activeKeys)\t\(o.endingKeys)\t\(o.lastKeyEndsAt.map(Timestamp.format) ?? "-")")
                }
                guard page.count == 500, let last = page.last else { break }
                after = last.id
            }
        }
    }
}

/// `local-host rotate-key ORG`: a new key; the org's current keys keep working for the grace.
struct RotateKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-key",
        abstract: "Issue a new API key for ORG (an id or an exact name); its current keys stop after the grace.",
        discussion: "The new key is printed once. Clients move to it during the grace; then the old keys stop working.")

    @Argument(help: "The organization: its id, or its exact name.") var org: String
    @Option(help: "Seconds the current keys keep working (0 stops them now; at most 30 days).") var graceSeconds: Double = 86_400
    @Flag(help: "Print only the new key, for scripts.") var quiet = false

    func run() throws {
        try LocalHost.reportingErrors {
            guard graceSeconds.isFinite, (0...(30 * 86_400)).contains(graceSeconds) else {
                throw ConfigurationError("--grace-seconds must be from 0 to 2592000")
            }
            let store = OrganizationStore(connection: try LocalHost.connect())
            guard let id = try store.find(org), let rotated = try store.rotateKey(orgId: id, graceSeconds: graceSeconds) else {
                throw ConfigurationError("no organization \(org)")
            }
            if quiet {
                print(rotated.key)
            } else {
                print("organization \(id): new api key (shown once, only its hash is stored): \(rotated.key)")
                print("previous keys: \(rotated.previousKeys), working until \(rotated.previousEndAt.map(Timestamp.format) ?? "-")")
            }
        }
    }
}

/// `local-host revoke-key ORG`: every key of the org stops now.
struct RevokeKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke-key",
        abstract: "Stop every API key of ORG (an id or an exact name) at once; rotate-key issues a new one.")

    @Argument(help: "The organization: its id, or its exact name.") var org: String

    func run() throws {
        try LocalHost.reportingErrors {
            let store = OrganizationStore(connection: try LocalHost.connect())
            guard let id = try store.find(org), let revoked = try store.revokeKeys(orgId: id) else {
                throw ConfigurationError("no organization \(org)")
            }
            print("organization \(id): \(revoked) key\(revoked == 1 ? "" : "s") revoked")
        }
    }
}
