import FoundationEssentials

/// The PostgreSQL schema an installation keeps all of its tables, functions and types in.
///
/// Every connection puts it alone on its `search_path` (set with the session's other settings,
/// so it costs no round trip of its own), which is how the same statements serve any schema:
/// two installations in two schemas of one database never see each other's rows, and an
/// application's own tables in `public` never shadow Conveyor's. The name is limited to
/// lowercase letters, digits and `_` so that it needs no quoting anywhere it is used: in SQL,
/// in a notification channel's name and in a libpq option.
public struct DatabaseSchema: Hashable, Sendable, CustomStringConvertible {
    /// The schema's name, e.g. `conveyor`.
    public let name: String

    /// Where a new installation lives unless `CONVEYOR_SCHEMA` says otherwise.
    public static let standard = DatabaseSchema(checked: "conveyor")
    /// Where installations before 0.10 kept their tables; migrate moves them out of it.
    public static let legacy = DatabaseSchema(checked: "public")

    /// Validates `name`: 1 to 63 characters of a-z, 0-9 and `_`, starting with a letter or `_`.
    /// Throws `PostgresError(.configuration)` naming the rule otherwise.
    public init(_ name: String) throws {
        guard Self.isValid(name) else {
            throw PostgresError(.configuration, message:
                "schema name '\(name.prefix(80))' must be 1 to 63 characters of a-z, 0-9 and '_', starting with a letter or '_'")
        }
        self.name = name
    }

    private init(checked name: String) { self.name = name }

    /// The schema named by `CONVEYOR_SCHEMA`, or `standard` when it is unset or empty.
    /// `public` is refused: every role may create objects there on PostgreSQL 14 and before, and
    /// one that shadows an operator our SECURITY DEFINER functions use would run as their owner.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseSchema {
        guard let name = environment["CONVEYOR_SCHEMA"], !name.isEmpty else { return .standard }
        guard name != legacy.name else {
            throw PostgresError(.configuration, message: "CONVEYOR_SCHEMA must not be public: give Conveyor a schema of its own (the default is conveyor)")
        }
        return try DatabaseSchema(name)
    }

    /// True for a name `init` accepts.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        for (i, b) in bytes.enumerated() {
            let letter = (b >= 97 && b <= 122) || b == 95
            if i == 0 ? !letter : !(letter || (b >= 48 && b <= 57)) { return false }
        }
        return true
    }

    public var description: String { name }
}
