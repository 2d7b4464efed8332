import FastCGI
import FoundationEssentials
import Glibc
import Handlers
import Logging

/// CGI/1.1: one request from the environment and standard input, its response on standard output.
enum CGIMode {
    /// Answers the request; the process's exit status. A configuration problem still answers, with
    /// a 500 envelope that names nothing internal, and exits 2 after one line on standard error.
    static func run(environment: [String: String]) -> Int32 {
        let logger = Logger(label: "conveyor.fcgi-host")
        let responder: RouterResponder
        do {
            let manifest = try FunctionManifest.load(path: nil, environment: environment)
            let router = try Router(manifest: manifest)
            let context = FunctionContext(configuration: Configuration(environment: environment), manifest: manifest, logger: logger)
            responder = RouterResponder(router: router, context: context)
        } catch {
            FCGIHost.printError("\(error)")
            let response = HTTPResponse.error(APIError(.internal, "the function host is misconfigured"))
            try? CGIGateway.writeAll(FCGIResponse(response).cgiBytes(), to: STDOUT_FILENO)
            return 2
        }
        do {
            try CGIGateway.serve(environment: environment, responder: responder)
            return 0
        } catch {
            FCGIHost.printError("CGI request failed: \(error)")
            return 1
        }
    }
}
