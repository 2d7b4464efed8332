import Foundation
import Handlers

/// Where the driver sends its calls, and with which key: `CONVEYOR_URL` and
/// `CONVEYOR_PROCESSOR_KEY` from an environment. The key is kept out of every description.
struct DriverSettings: Sendable, CustomStringConvertible {
    /// The front door's base URL, without a trailing slash.
    let baseURL: String
    /// The processor key, sent as `x-api-key`.
    let processorKey: String

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
    }

    var description: String { "DriverSettings(baseURL: \(baseURL), processorKey: <hidden>)" }
}
