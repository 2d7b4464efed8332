import Dispatch
import FoundationEssentials
import Logging
import Postgres

/// Routes requests to functions by functions.json, checks body limits and keys, and turns every
/// error into the envelope. Both hosts and the tests go through it.
public struct Router: Sendable {
    /// Where a request lands.
    public enum Match: Equatable {
        case function(FunctionManifest.Entry, params: [String: String])
        case notFound
        case methodNotAllowed(allowed: [String])
    }

    public let manifest: FunctionManifest
    private let functions: [String: any ConveyorFunction]
    private let routes: [(entry: FunctionManifest.Entry, method: String, segments: [Substring])]

    /// Builds a router; the manifest and the code must name the same functions.
    public init(manifest: FunctionManifest, functions: [any ConveyorFunction] = FunctionRegistry.hosted) throws {
        let byName = Dictionary(functions.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        // Entries with a target run the user's code, not this build's.
        let declared = Set(manifest.functions.filter { $0.target == nil }.map(\.name))
        let coded = Set(byName.keys)
        guard declared == coded else {
            throw ConfigurationError("functions.json and the code disagree: only in functions.json: \(declared.subtracting(coded).sorted()); only in code: \(coded.subtracting(declared).sorted())")
        }
        self.manifest = manifest
        self.functions = byName
        self.routes = manifest.functions.compactMap { e in
            guard let method = e.method, let path = e.path else { return nil }
            return (e, method.uppercased(), path.split(separator: "/", omittingEmptySubsequences: true))
        }
    }

    /// The function for a method and path.
    public func match(method: String, path: String) -> Match {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        for route in routes {
            guard let params = Self.bind(route.segments, to: segments) else { continue }
            if route.method == method.uppercased() || (method.uppercased() == "HEAD" && route.method == "GET") {
                return .function(route.entry, params: params)
            }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed.sorted())
    }

    static func bind(_ pattern: [Substring], to path: [Substring]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var params: [String: String] = [:]
        for (p, s) in zip(pattern, path) {
            if p.hasPrefix("{") && p.hasSuffix("}") {
                params[String(p.dropFirst().dropLast())] = PercentDecoding.decode(s) ?? String(s)
            } else if p != s {
                return nil
            }
        }
        return params
    }

    /// The body limit for a route, so a host can refuse an oversized body before reading it.
    public func bodyLimit(method: String, path: String) -> Int? {
        if case .function(let entry, _) = match(method: method, path: path) { return entry.bodyLimitBytes }
        return nil
    }

    /// Answers one request. Never throws: every failure is an envelope.
    public func handle(_ request: HTTPRequest, context: FunctionContext) -> HTTPResponse {
        let started = DispatchTime.now().uptimeNanoseconds
        var response: HTTPResponse
        var name = "-"
        // Every line logged while this request runs carries its id, function and org.
        let base = context.logger
        defer { context.logger = base }
        if let id = request.requestId { context.logger[metadataKey: "requestId"] = .string(id) }
        switch match(method: request.method, path: request.path) {
        case .notFound:
            response = .error(APIError(.notFound, "no function at \(request.path.prefix(200))"), for: request)
        case .methodNotAllowed(let allowed):
            response = .error(APIError(.methodNotAllowed, "\(request.method.prefix(16)) is not allowed here; use \(allowed.joined(separator: ", "))",
                                       details: ["allowed": .array(allowed.map { .string($0) })]), for: request)
            response.headers.append(("Allow", allowed.joined(separator: ", ")))
        case .function(let entry, let params):
            name = entry.name
            context.logger[metadataKey: "function"] = .string(name)
            response = invoke(entry, params: params, request: request, context: context)
        }
        if let id = request.requestId { response.headers.append(("X-Request-Id", id)) }
        log(name, request: request, status: response.status, since: started, context: context)
        return response
    }

    func invoke(_ entry: FunctionManifest.Entry, params: [String: String], request: HTTPRequest, context: FunctionContext) -> HTTPResponse {
        do {
            let caller = try admit(request, to: entry, context: context)
            if case .tenant(let org) = caller { context.logger[metadataKey: "org"] = "\(org)" }
            guard let function = functions[entry.name] else { throw APIError(.notFound, "no function named \(entry.name)") }
            // process-batch runs the functions this router was built with.
            context.functions = functions
            return try function.handle(Invocation(request: request, pathParams: params, caller: caller), context: context)
        } catch {
            return envelope(error, function: entry.name, request: request, context: context)
        }
    }

    /// The checks before a function runs: the body limit, then the key. Returns the caller.
    func admit(_ request: HTTPRequest, to entry: FunctionManifest.Entry, context: FunctionContext) throws -> Caller {
        // From here on, this function's database work (the key lookup included) runs within
        // its timeoutSeconds, and never waits on a lock for longer than the lock bound.
        var seconds = entry.timeoutSeconds
        if let receivedAt = request.receivedAt {
            // What the request waited for this worker is spent: a request past its bound is
            // refused before it does anything, and nginx hears the answer before it gives up.
            seconds -= max(0, Date().timeIntervalSince(receivedAt))
            guard seconds > 0.05 else {
                throw APIError(.unavailable, "the request waited \(Int(entry.timeoutSeconds)) s for a worker, its whole time bound; retry shortly")
            }
        }
        context.timeBounds = TimeBounds(statementSeconds: seconds, lockSeconds: context.lockTimeoutSeconds)
        guard request.body.count <= entry.bodyLimitBytes else {
            throw APIError(.payloadTooLarge, "the body is \(request.body.count) bytes; \(entry.name) accepts at most \(entry.bodyLimitBytes)",
                           details: ["limitBytes": .int(Int64(entry.bodyLimitBytes))])
        }
        return try Authenticator(context: context).authenticate(request, level: entry.auth)
    }

    /// Any error as the envelope; server-side failures are logged (never the request itself).
    func envelope(_ error: any Error, function name: String, request: HTTPRequest, context: FunctionContext) -> HTTPResponse {
        let apiError = APIError(translating: error)
        if apiError.code == .internal || apiError.code == .unavailable {
            var metadata: Logger.Metadata = ["function": "\(name)", "error": "\(error)"]
            if let id = request.requestId { metadata["requestId"] = .string(id) }
            context.logger.error("function failed", metadata: metadata)
        }
        return .error(apiError, for: request)
    }

    /// Never logs headers or bodies: they carry keys and tenant data. nginx's access log is the
    /// access log; a line per request here costs a worker a clock lookup, formatting and a
    /// write, so only server-side failures are logged at info.
    func log(_ name: String, request: HTTPRequest, status: Int, since started: UInt64, context: FunctionContext) {
        let level: Logger.Level = status >= 500 ? .info : .debug
        guard context.logger.logLevel <= level else { return }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
        var metadata: Logger.Metadata = [
            "function": "\(name)", "method": "\(request.method.prefix(16))", "status": "\(status)",
            "ms": "\(Double(Int(ms * 100)) / 100)",
        ]
        if let id = request.requestId { metadata["requestId"] = .string(id) }
        context.logger.log(level: level, "request", metadata: metadata)
    }

    /// Runs a function by name as a job would, without a route or key check.
    func function(named name: String) -> (any ConveyorFunction)? { functions[name] }
}
