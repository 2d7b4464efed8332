import Accounts
import Postgres

/// Organization operations the hosts expose on their command lines.
public enum Organizations {
    /// Creates an organization and returns its id, name and first API key (shown once).
    public static func create(name: String, connection: Connection) throws -> (id: Int64, name: String, key: String) {
        let (org, key) = try OrganizationStore(connection: connection).create(name: name)
        return (org.id, org.name, key)
    }
}
