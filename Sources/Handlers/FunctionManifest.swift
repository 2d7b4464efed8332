import FoundationEssentials
import JobQueue
import Targets

/// `functions.json`: the single list of functions, their routes, keys, limits and job policies.
public struct FunctionManifest: Sendable, Decodable {
    /// One function's entry.
    public struct Entry: Sendable, Decodable, Equatable {
        public var name: String
        /// HTTP method; nil with `path` for job-only kinds.
        public var method: String?
        /// Route with `{param}` segments; nil when the function runs only as a job.
        public var path: String?
        public var auth: AuthLevel
        public var bodyLimitBytes: Int
        public var timeoutSeconds: Double
        public var description: String?
        /// Present when the function can run deferred as a job kind.
        public var job: JobSpec?
        /// Present when the kind's work is not Swift code of this build but the user's own
        /// endpoint or executable; such an entry has no route.
        public var target: TargetSpec?

        enum CodingKeys: String, CodingKey {
            case name, method, path, auth, bodyLimitBytes, timeoutSeconds, description, job, target
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            method = try c.decodeIfPresent(String.self, forKey: .method)
            path = try c.decodeIfPresent(String.self, forKey: .path)
            description = try c.decodeIfPresent(String.self, forKey: .description)
            job = try c.decodeIfPresent(JobSpec.self, forKey: .job)
            target = try c.decodeIfPresent(TargetSpec.self, forKey: .target)
            // A target's entry is a job kind only: no caller reaches it, so it needs no key, body
            // limit or request timeout of its own.
            let optional = target != nil
            auth = try optional ? c.decodeIfPresent(AuthLevel.self, forKey: .auth) ?? .tenant : c.decode(AuthLevel.self, forKey: .auth)
            bodyLimitBytes = try optional ? c.decodeIfPresent(Int.self, forKey: .bodyLimitBytes) ?? 0 : c.decode(Int.self, forKey: .bodyLimitBytes)
            timeoutSeconds = try optional ? c.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? 1 : c.decode(Double.self, forKey: .timeoutSeconds)
        }
    }

    /// How a deferrable function runs as a job.
    public struct JobSpec: Sendable, Decodable, Equatable {
        public var queue: String
        public var maxAttempts: Int
        public var backoffBaseSeconds: Double
        /// The longest backoff; an hour (or the base, when longer) when left out.
        public var backoffCapSeconds: Double?
        /// The longest one attempt may run; a job may ask for less. Nil: the engine's default.
        public var timeoutSeconds: Double?
        /// True when a job may run in another queue than `queue` (diagnostic kinds). Kinds whose
        /// queue carries their limits keep their jobs there.
        public var queueOverride: Bool?
    }

    public var functions: [Entry]
    /// The runners of the entries with a target, by kind: built by `load` and `decode`, which
    /// read their signing secrets from the environment.
    public private(set) var targets: [String: any JobTarget] = [:]

    enum CodingKeys: String, CodingKey { case functions }

    public init(functions: [Entry]) {
        self.functions = functions
    }

    /// The entry for `name`, or nil.
    public func entry(_ name: String) -> Entry? { functions.first { $0.name == name } }

    /// The job kinds this manifest declares, with their policies.
    public var jobKinds: JobKinds {
        JobKinds(functions.compactMap { e in
            e.job.map { JobKinds.Kind(name: e.name, queue: $0.queue,
                                      retry: RetryPolicy(maxAttempts: $0.maxAttempts, baseSeconds: $0.backoffBaseSeconds, capSeconds: $0.cap),
                                      timeoutSeconds: e.target?.timeoutSeconds ?? $0.timeoutSeconds, queueOverride: $0.queueOverride ?? false) }
        })
    }

    /// Parses and checks a manifest, and builds its targets with secrets from `environment`.
    public static func decode(_ data: Data, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> FunctionManifest {
        try ManifestKeys.check(JSONValue.parse(data))
        var manifest = try JSONDecoder().decode(FunctionManifest.self, from: data)
        try manifest.check()
        manifest.targets = try manifest.buildTargets(environment: environment)
        return manifest
    }

    /// Loads the manifest from `path`, or from `$CONVEYOR_MANIFEST`, or `./functions.json`.
    public static func load(path: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> FunctionManifest {
        let chosen = path ?? environment["CONVEYOR_MANIFEST"] ?? "functions.json"
        do {
            return try decode(Data(try included(chosen, depth: 0).jsonText.utf8), environment: environment)
        } catch let e as ConfigurationError {
            throw e
        } catch {
            throw ConfigurationError("the function manifest at \(chosen) is not valid: \(error)")
        }
    }

    /// The manifest at `path` with the entries of the manifests its `include` names (paths
    /// relative to it) first: a team keeps Conveyor's functions.json as shipped and lists its
    /// own kinds in a file that includes it.
    static func included(_ path: String, depth: Int) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read the function manifest at \(path) (set CONVEYOR_MANIFEST or pass --manifest)")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw ConfigurationError("the function manifest at \(path) is not valid JSON: \(error)")
        }
        guard case .object(var top) = json, case .array(let own)? = top["functions"] ?? .array([]) else {
            throw ConfigurationError("the function manifest at \(path) must be an object with a \"functions\" array")
        }
        guard let include = top.removeValue(forKey: "include") else { return json }
        guard case .array(let paths) = include, paths.allSatisfy({ $0.stringValue != nil }) else {
            throw ConfigurationError("the function manifest at \(path): include must be an array of paths")
        }
        guard depth < 4 else { throw ConfigurationError("the function manifest at \(path) includes too deeply (at most 4 levels)") }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        var functions: [JSONValue] = []
        for case .string(let relative) in paths {
            let resolved = relative.hasPrefix("/") ? relative : directory + "/" + relative
            guard case .array(let entries)? = try included(resolved, depth: depth + 1)["functions"] else { continue }
            functions += entries
        }
        top["functions"] = .array(functions + own)
        return .object(top)
    }

    func check() throws {
        var names = Set<String>()
        var routes = Set<String>()
        for e in functions {
            guard names.insert(e.name).inserted else { throw ConfigurationError("functions.json names \(e.name) twice") }
            if let target = e.target {
                guard e.method == nil, e.job != nil else {
                    throw ConfigurationError("functions.json: \(e.name) has a target, so it is a job kind only: give it a job policy and no method or path")
                }
                try target.check(entry: e.name)
                if target.timeoutSeconds != nil, e.job?.timeoutSeconds != nil {
                    throw ConfigurationError("functions.json: \(e.name) gives timeoutSeconds in both target and job; keep the target's")
                }
            }
            guard (e.method == nil) == (e.path == nil) else {
                throw ConfigurationError("functions.json: \(e.name) needs both method and path, or neither")
            }
            if let method = e.method, let path = e.path {
                guard path.hasPrefix("/") else { throw ConfigurationError("functions.json: \(e.name) path must start with /") }
                guard routes.insert("\(method) \(path)").inserted else {
                    throw ConfigurationError("functions.json routes \(method) \(path) twice")
                }
            } else if e.job == nil {
                throw ConfigurationError("functions.json: \(e.name) has no route and is not a job kind")
            }
            guard e.bodyLimitBytes >= 0, e.timeoutSeconds > 0 else {
                throw ConfigurationError("functions.json: \(e.name) needs a non-negative body limit and a positive timeout")
            }
            if let job = e.job {
                guard JobRequest.isValidQueueName(job.queue) else {
                    throw ConfigurationError("functions.json: \(e.name).job.queue is not a valid queue name")
                }
                guard (1...100).contains(job.maxAttempts), job.backoffBaseSeconds > 0, job.cap >= job.backoffBaseSeconds else {
                    throw ConfigurationError("functions.json: \(e.name).job needs maxAttempts 1 to 100 and 0 < backoffBaseSeconds <= backoffCapSeconds")
                }
                if let timeout = job.timeoutSeconds {
                    guard timeout.isFinite, timeout >= 0.001, timeout <= JobKinds.maxTimeoutSeconds else {
                        throw ConfigurationError("functions.json: \(e.name).job.timeoutSeconds must be more than 0 and at most \(Int(JobKinds.maxTimeoutSeconds))")
                    }
                }
            }
        }
    }
}

/// A configuration problem: reported as one line naming what is wrong, never as a crash trace.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
