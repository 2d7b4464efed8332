import Foundation
import TestSupport
import Glibc
import Handlers
import JobQueue
import Testing

/// openapi.yaml describes every function of functions.json, and schemathesis, run against the
/// real deployment behind nginx, finds no 5xx and no response that breaks the spec.
@Suite(.serialized)
struct OpenAPITests {
    static let specPath = Stack.repoRoot.appendingPathComponent("openapi.yaml").path
    static let schemes: [AuthLevel: Set<String>] = [
        .tenant: ["tenantKey", "tenantBearer"], .processor: ["processorKey", "processorBearer"], .admin: ["adminKey", "adminBearer"], .none: [],
        .metrics: ["metricsKey", "metricsBearer", "adminKey", "adminBearer"],
    ]

    /// The spec as JSON, through the test Python's PyYAML (schemathesis depends on it).
    static func spec() throws -> JSONValue {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString.prefix(8)).json")
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try ChildProcess.run(try ChildProcess.testPython(), ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", specPath],
                                     environment: ProcessInfo.processInfo.environment, outputFile: out)
        guard r.status == 0 else { throw ConfigurationError("openapi.yaml does not load: \(r.output.suffix(2000))") }
        return try JSONValue.parse(r.output)
    }

    static func array(_ value: JSONValue?) -> [JSONValue] {
        if case .array(let items)? = value { return items }
        return []
    }

    @Test func specAgreesWithFunctionsJSON() throws {
        let spec = try Self.spec()
        let routes = try ManifestRoutes()
        #expect(spec["openapi"]?.stringValue?.hasPrefix("3.") == true)
        let paths = try #require(spec["paths"]?.objectValue)
        var described = Set<String>()
        for (path, item) in paths {
            for (method, op) in item.objectValue ?? [:] {
                described.insert("\(method.uppercased()) \(path)")
                let name = op["operationId"]?.stringValue ?? "?"
                guard let entry = routes.entries.first(where: { $0.name == name }) else {
                    Issue.record("openapi.yaml has \(method.uppercased()) \(path) as \(name), which functions.json does not know")
                    continue
                }
                #expect(entry.method?.uppercased() == method.uppercased() && entry.path == path, "\(name): \(method) \(path) vs \(entry.method ?? "-") \(entry.path ?? "-")")
                #expect(op["x-conveyor-auth"]?.stringValue == entry.auth.rawValue, "\(name): auth")
                #expect(op["x-conveyor-body-limit-bytes"]?.intValue == Int64(entry.bodyLimitBytes), "\(name): body limit")
                #expect(op["tags"] == .array([.string(entry.auth.rawValue)]), "\(name): tag")
                if case .array(let security)? = op["security"] {
                    let named = Set(security.flatMap { $0.objectValue?.keys.map { $0 } ?? [] })
                    // The dashboard's session cookie may stand in for the admin key.
                    let wanted = Self.schemes[entry.auth] ?? []
                    #expect(named == wanted || named == wanted.union(entry.auth == .admin || entry.auth == .metrics ? ["adminSession"] : []), "\(name): security \(named.sorted())")
                } else {
                    Issue.record("\(name): no security list")
                }
                // A body is described exactly where the function reads one.
                #expect((op["requestBody"] != nil) == (entry.bodyLimitBytes > 0 && method != "get"), "\(name): requestBody")
                if entry.path!.contains("{") {
                    let pathParams = Self.array(op["parameters"]).filter { $0["in"]?.stringValue == "path" }
                    let params = Set(pathParams.compactMap { $0["name"]?.stringValue })
                    let wanted = Set(entry.path!.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
                    #expect(params == wanted, "\(name): path parameters")
                }
                // Every refusal is in the envelope, and each operation documents the refusals it
                // can give: a key's, a body's, and an unavailable database's.
                let responses = op["responses"]?.objectValue ?? [:]
                var wantedErrors = ["503"]
                if entry.auth != .none { wantedErrors += ["401", "403"] }
                if entry.bodyLimitBytes > 0 && method != "get" { wantedErrors += ["400", "413", "415", "422"] }
                if entry.path!.contains("{") { wantedErrors += ["404"] }
                let envelopes = ["Error", "Unauthorized", "RateLimited", "Unavailable"].map { "#/components/responses/\($0)" }
                for code in wantedErrors {
                    #expect(envelopes.contains(responses[code]?["$ref"]?.stringValue ?? ""), "\(name): \(code) is not the error envelope")
                }
                for (code, response) in responses where code.hasPrefix("4") || code.hasPrefix("5") {
                    #expect(envelopes.contains(response["$ref"]?.stringValue ?? "") || response["content"] != nil, "\(name): \(code)")
                }
                #expect(responses["401"]?["$ref"]?.stringValue != envelopes[0] || entry.auth == .none, "\(name): 401 documents WWW-Authenticate")
                for code in ["201", "202"] where responses[code] != nil {
                    #expect(responses[code]?["headers"]?["Location"] != nil, "\(name): \(code) documents Location")
                }
                #expect(responses.keys.contains { $0.hasPrefix("2") }, "\(name): no success response")
            }
        }
        let routed = Set(routes.routed.map { "\($0.method!.uppercased()) \($0.path!)" })
        #expect(described == routed, "only in openapi.yaml: \(described.subtracting(routed).sorted()); only in functions.json: \(routed.subtracting(described).sorted())")
        // Job kinds: the enqueue schema's enum and the extension list name exactly the deferrable functions.
        let kinds = Set(routes.entries.filter { $0.job != nil }.map(\.name))
        let kindEnum = spec["components"]?["schemas"]?["JobKind"]?["enum"]
        #expect(Set(Self.array(kindEnum).compactMap { $0.stringValue }) == kinds)
        #expect(Set(spec["x-conveyor-job-kinds"]?.objectValue?.keys.map { $0 } ?? []) == kinds)
        let envelope = spec["components"]?["schemas"]?["Error"]?["properties"]?["error"]?["properties"]?["code"]?["enum"]
        let codes = Set(Self.array(envelope).compactMap { $0.stringValue })
        #expect(codes == Set(APIError.Code.allCases.map(\.rawValue)), "the envelope's codes")
    }

    /// schemathesis with a bounded number of examples. Operations that act on every org (the
    /// processor's, and the admin's writes) would disturb tests running in parallel on the shared
    /// cluster, so they are sent a tenant key: their refusals must conform too. Everything a tenant
    /// may call, and the admin's reads, run with their own keys.
    @Test func schemathesisFindsNoServerErrorAndEveryResponseConforms() throws {
        // A real SMTP sink, so send-email is held to "no 5xx" like every other function.
        let smtp = try SMTPSink()
        defer { smtp.stop() }
        var options = Stack.Options(workers: 2)
        options.environment = smtp.environment
        let stack = try Stack(options)
        let tenant = try Tenant(databaseURL: stack.databaseURL)
        let python = try ChildProcess.testPython()
        let routes = try ManifestRoutes().routed
        func ids(_ keep: (FunctionManifest.Entry) -> Bool) -> [String] {
            routes.filter(keep).flatMap { ["--include-operation-id", $0.name] }
        }
        let safe = "not_a_server_error,"
        let conformance = "status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"
        let runs: [(String, String, String, [String])] = [
            ("tenant and public", tenant.key, safe + conformance, ids { $0.auth == .tenant || $0.auth == .none }),
            ("admin reads", Stack.adminKey, safe + conformance, ids { $0.auth == .admin && $0.method == "GET" }),
            ("processor and admin writes with a tenant key", tenant.key, safe + conformance,
             ids { $0.auth == .processor || ($0.auth == .admin && $0.method != "GET") }),
        ]
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = stack.dir.path
        env["NO_COLOR"] = "1"
        for (i, (what, key, checks, filter)) in runs.enumerated() where !filter.isEmpty {
            let out = stack.dir.appendingPathComponent("schemathesis-\(i).log")
            let args = ["-m", "schemathesis.cli", "run", Self.specPath, "--url", stack.baseURL, "--checks", checks,
                        "--max-examples", "15", "--seed", "8", "--phases", "examples,coverage,fuzzing",
                        // One worker: Python 3.11's ast.parse is not thread-safe, and hypothesis calls it
                        // while describing strategies (seen as "AST constructor recursion depth mismatch").
                        "--workers", "1",
                        "--generation-database", "none", "--request-timeout", "20", "--no-color", "--report-dir", stack.dir.path,
                        "-H", "x-api-key: \(key)"] + filter
            // From the stack's directory: schemathesis keeps a cache in its working directory.
            let r = try ChildProcess.run("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", stack.dir.path, python] + args, environment: env, outputFile: out)
            let summary = r.output.split(separator: "\n").suffix(12).joined(separator: "\n")
            print("schemathesis (\(what)): exit \(r.status)\n\(summary)")
            #expect(r.status == 0, "schemathesis (\(what)) exit \(r.status):\n\(r.output.suffix(6000))")
        }
        #expect(try Web(stack.baseURL).call("GET", "/health").status == 200)
    }
}

/// Tests/Fixtures/smtp_sink.py on 127.0.0.1, with its own maildir.
final class SMTPSink {
    let maildir: URL
    private let server: FixtureServer
    var port: Int { server.port }
    /// What a stack's processes need to send mail through this sink.
    var environment: [String: String] {
        ["SMTP_URL": "smtp://127.0.0.1:\(port)?tls=none", "SMTP_FROM_EMAIL": "conveyor@example.com", "SMTP_TIMEOUT_SECONDS": "10"]
    }

    init() throws {
        maildir = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-smtp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: maildir, withIntermediateDirectories: true)
        server = try FixtureServer(script: "smtp_sink.py", arguments: ["--maildir", maildir.path])
    }

    func stop() {
        server.stop()
        try? FileManager.default.removeItem(at: maildir)
    }

    deinit { stop() }
}
