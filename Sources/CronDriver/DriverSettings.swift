import Foundation
import Handlers

/// Where the driver sends its calls, and with which key: `CONVEYOR_URL` and
/// `CONVEYOR_PROCESSOR_KEY` from an environment, plus `CONVEYOR_TENANT_KEY` for entries that
/// call a tenant function (a periodic `enqueue`). Keys are kept out of every description.
struct DriverSettings: Sendable, CustomStringConvertible {
    /// The front door's base URL, without a trailing slash.
    let baseURL: String
    /// The processor key, sent as `x-api-key`.
    let processorKey: String
    /// An organization's key, for tenant functions such as `enqueue`; nil when not set.
    let tenantKey: String?

    /// Reads both variables; a missing one is a `ConfigurationError` naming it.
    init(environment: [String: String]) throws {
        let configuration = Configuration(environment: environment)
        var base = try configuration.require("CONVEYOR_URL")
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
            throw ConfigurationError("CONVEYOR_URL must start with http:// or https://")
        }
        baseURL = base
        processorKey = try configuration.require("CONVEYOR_PROCESSOR_KEY")
        tenantKey = configuration["CONVEYOR_TENANT_KEY"]
    }

    /// The key `endpoint` takes: the tenant key for tenant functions, else the processor key.
    func key(for endpoint: FunctionEndpoint) throws -> String {
        guard endpoint.auth == .tenant else { return processorKey }
        guard let tenantKey else {
            throw ConfigurationError("\(endpoint.name) needs an organization's key: set CONVEYOR_TENANT_KEY")
        }
        return tenantKey
    }

    var description: String { "DriverSettings(baseURL: \(baseURL), processorKey: <hidden>, tenantKey: <hidden>)" }
}
