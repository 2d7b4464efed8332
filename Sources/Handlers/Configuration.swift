import FoundationEssentials

/// The environment a host was started with (12-factor). Secrets stay in here and are never logged.
public struct Configuration: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// A variable's value, empty counting as unset.
    public subscript(name: String) -> String? {
        guard let v = environment[name], !v.isEmpty else { return nil }
        return v
    }

    /// A variable that must be set, or a one-line error naming it.
    public func require(_ name: String) throws -> String {
        guard let v = self[name] else { throw ConfigurationError("\(name) is not set") }
        return v
    }

    public var databaseURL: String? { self["DATABASE_URL"] }
    public var processorKey: String? { self["CONVEYOR_PROCESSOR_KEY"] }
    public var adminKey: String? { self["CONVEYOR_ADMIN_KEY"] }
    /// A key that reads /metrics and nothing else, for a scraper.
    public var metricsKey: String? { self["CONVEYOR_METRICS_KEY"] }
}
