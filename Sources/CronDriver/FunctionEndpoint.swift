import Foundation
import Handlers

/// One function's route on the front door, resolved from the manifest.
struct FunctionEndpoint: Sendable {
    let name: String
    let method: String
    let url: String
    /// The function's own timeout plus ten seconds for nginx and the network.
    let timeout: Double
    /// The key level the function demands.
    let auth: AuthLevel

    /// Resolves `name` in `manifest`. Functions without a route, or with path parameters, cannot
    /// be called by the driver.
    init(function name: String, manifest: FunctionManifest, baseURL: String) throws {
        guard let entry = manifest.entry(name) else {
            throw ConfigurationError("no function named \(name) in the manifest; known: \(manifest.functions.map(\.name).joined(separator: ", "))")
        }
        guard let method = entry.method, let path = entry.path else {
            throw ConfigurationError("\(name) runs only as a job and has no route to call")
        }
        guard !path.contains("{") else {
            throw ConfigurationError("\(name) takes path parameters (\(path)); cron-driver cannot fill them")
        }
        self.name = name
        self.method = method
        self.url = baseURL + path
        self.timeout = entry.timeoutSeconds + 10
        self.auth = entry.auth
    }

    /// The body to send when none is given: `{}` for methods that carry a body, else nothing.
    var defaultBody: Data {
        ["POST", "PUT", "PATCH"].contains(method.uppercased()) ? Data("{}".utf8) : Data()
    }
}
