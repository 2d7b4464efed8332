import ArgumentParser
import FastCGI
import FoundationEssentials
import Glibc

/// `fcgi-host probe`: one request to a running pool over FastCGI, as nginx would send it. For
/// health checks and scripts on machines without cgi-fcgi.
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Send one request to a running fcgi-host over FastCGI and print the response body.",
        discussion: "The HTTP status goes to standard error. The exit code is 0 for a 2xx answer, 1 otherwise, 2 when the pool cannot be reached.")

    @Option(help: "unix:/path.sock or 127.0.0.1:PORT.") var listen: String
    @Option(help: "The HTTP method.") var method = "GET"
    @Argument(help: "The path, optionally with a query string.") var path = "/health"
    @Option(help: "The request body (sent as application/json).") var body: String?
    @Option(help: "The name of an environment variable holding the API key (keys never go on command lines).")
    var keyFromEnv: String?
    @Option(help: "Seconds to wait for the answer.") var timeout: Double = 30

    func run() throws {
        var response: FCGIResponse?
        try FCGIHost.reportingStartupErrors {
            let address = try FCGIListenAddress(parsing: listen)
            let parts = path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let bytes = body.map { Array($0.utf8) } ?? []
            var params = [("GATEWAY_INTERFACE", "CGI/1.1"), ("REQUEST_METHOD", method.uppercased()), ("DOCUMENT_URI", String(parts[0])),
                          ("REQUEST_URI", path), ("QUERY_STRING", parts.count > 1 ? String(parts[1]) : ""), ("SERVER_PROTOCOL", "HTTP/1.1")]
            if body != nil { params += [("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", "\(bytes.count)")] }
            if let keyFromEnv {
                guard let key = ProcessInfo.processInfo.environment[keyFromEnv], !key.isEmpty else {
                    throw HostError.configuration("\(keyFromEnv) is not set")
                }
                params.append(("HTTP_X_API_KEY", key))
            }
            let client = try FCGIClient(connectingTo: address, timeout: timeout)
            let answer = try client.request(params: params, stdin: bytes, keepConnection: false)
            guard let http = answer.http else { throw HostError(.system, "the answer is not a CGI response") }
            response = http
        }
        guard let response else { return }
        // Plain write(2): a closed pipe (`| head`) is then an ignored EPIPE, not a trap.
        try? CGIGateway.writeAll(Array("HTTP \(response.status)\n".utf8), to: STDERR_FILENO)
        try? CGIGateway.writeAll(response.body + [10], to: STDOUT_FILENO)
        if !(200..<300).contains(response.status) { throw ExitCode(1) }
    }
}
