import ArgumentParser
import Foundation
import Handlers
import Logging

struct Invoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Call one function through the router and print its response body.",
        discussion: "The HTTP status goes to standard error. The exit code is 0 for a 2xx answer, 1 otherwise.")

    @Argument(help: "The function's name in functions.json.") var function: String
    @Option(help: "The JSON body. Without it, the body is read from standard input unless it is a terminal.") var body: String?
    @Option(help: "A file whose first line is the API key (sent as x-api-key); - reads it from standard input's first line, and the body must then come with --body. Keys never go on the command line, where ps and shell history would show them.")
    var keyFile: String?
    @Option(help: "The name of an environment variable holding the API key.") var keyFromEnv: String?
    @Option(name: .customLong("param"), help: "A path parameter, name=value (e.g. id=42).") var params: [String] = []
    @Option(name: .customLong("query"), help: "A query parameter, name=value.") var queries: [String] = []
    @Option(name: .customLong("header"), help: "An extra header, name:value.") var headers: [String] = []
    @Option(help: "The function manifest (default: $CONVEYOR_MANIFEST or ./functions.json).") var manifest: String?
    @Flag(help: "Log requests to standard error.") var verbose = false

    func run() throws {
        var status = 0
        try LocalHost.reportingErrors {
            let manifest = try FunctionManifest.load(path: self.manifest)
            let router = try Router(manifest: manifest)
            guard let entry = manifest.entry(function) else {
                throw ConfigurationError("no function named \(function); known: \(manifest.functions.map(\.name).joined(separator: ", "))")
            }
            guard let method = entry.method, var path = entry.path else {
                throw ConfigurationError("\(function) runs only as a job: enqueue it with kind \(function)")
            }
            for p in params {
                let (name, value) = try split(p, on: "=", what: "--param")
                path = path.replacingOccurrences(of: "{\(name)}", with: value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? value)
            }
            var query: [String: String] = [:]
            for q in queries {
                let (name, value) = try split(q, on: "=", what: "--query")
                query[name] = value
            }
            var headerMap: [String: String] = ["content-type": "application/json"]
            for h in headers {
                let (name, value) = try split(h, on: ":", what: "--header")
                headerMap[name.lowercased()] = value.trimmingCharacters(in: .whitespaces)
            }
            if let key = try readKey() { headerMap["x-api-key"] = key }
            var data = Data()
            if let body {
                data = Data(body.utf8)
            } else if isatty(STDIN_FILENO) == 0 {
                data = FileHandle.standardInput.readDataToEndOfFile()
            }
            var logger = Logger(label: "conveyor.local-host")
            logger.logLevel = verbose ? .info : .critical
            let context = FunctionContext(manifest: manifest, logger: logger)
            let response = router.handle(HTTPRequest(method: method, path: path, query: query, headers: headerMap, body: data), context: context)
            FileHandle.standardError.write(Data("HTTP \(response.status)\n".utf8))
            FileHandle.standardOutput.write(response.body)
            FileHandle.standardOutput.write(Data("\n".utf8))
            status = response.isSuccess ? 0 : 1
        }
        if status != 0 { throw ExitCode(Int32(status)) }
    }

    func split(_ s: String, on separator: Character, what: String) throws -> (String, String) {
        guard let i = s.firstIndex(of: separator) else {
            throw ValidationError("\(what) takes name\(separator)value, got \(s)")
        }
        return (String(s[..<i]), String(s[s.index(after: i)...]))
    }

    /// The key from --key-file or --key-from-env; nil when neither is given.
    func readKey() throws -> String? {
        if keyFile != nil && keyFromEnv != nil { throw ConfigurationError("give --key-file or --key-from-env, not both") }
        if let name = keyFromEnv {
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw ConfigurationError("--key-from-env: \(name) is not set")
            }
            return value.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let keyFile else { return nil }
        let text: String
        if keyFile == "-" {
            guard body != nil else { throw ConfigurationError("--key-file - reads standard input: give the body with --body") }
            text = readLine(strippingNewline: true) ?? ""
        } else {
            guard let data = FileManager.default.contents(atPath: keyFile) else { throw ConfigurationError("--key-file: cannot read \(keyFile)") }
            text = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty else { throw ConfigurationError("--key-file: no key on the first line of \(keyFile)") }
        return key
    }
}
