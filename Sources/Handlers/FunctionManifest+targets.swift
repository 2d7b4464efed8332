import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif
import JobQueue
import Targets

extension FunctionManifest {
    /// Where a job kind's work runs when it is not Swift code of this build:
    /// `{"url": "http://127.0.0.1:3000/api/jobs/resize", "timeoutSeconds": 30}` POSTs each job,
    /// signed, to the user's endpoint; `{"exec": "/usr/local/lib/conveyor/jobs/thumbnail",
    /// "args": [], "timeoutSeconds": 60}` runs a local program the CGI way (no shell).
    ///
    /// The signing secret is never in functions.json: it comes from the variable `secretEnv`
    /// names (`CONVEYOR_WEBHOOK_SECRET` when the entry names none) or the file `secretFile`
    /// names. During a rotation the variable or file holds the new and the old secret.
    public struct TargetSpec: Sendable, Decodable, Equatable {
        public var url: String?
        /// An absolute path to a program; its arguments, if any, in `args`.
        public var exec: String?
        public var args: [String]?
        /// The longest one attempt may run; the kind's timeout.
        public var timeoutSeconds: Double?
        public var secretEnv: String?
        public var secretFile: String?
        /// The longest result kept from an answer (default 256 KiB, at most 16 MiB).
        public var maxResultBytes: Int?

        /// The variable read when an entry names no `secretEnv` or `secretFile`.
        public static let defaultSecretVariable = "CONVEYOR_WEBHOOK_SECRET"

        func check(entry name: String) throws {
            switch (url, exec) {
            case (let url?, nil):
                if let problem = TargetURL.problem(with: url) {
                    throw ConfigurationError("functions.json: \(name).target.url \(problem)")
                }
                if args != nil { throw ConfigurationError("functions.json: \(name).target.args goes with exec, not url") }
            case (nil, let path?):
                guard path.hasPrefix("/") else {
                    throw ConfigurationError("functions.json: \(name).target.exec must be an absolute path")
                }
                var status = stat()
                guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o111 != 0, access(path, X_OK) == 0 else {
                    throw ConfigurationError("functions.json: \(name).target.exec \(path) is not an executable file")
                }
                if (args ?? []).contains(where: { $0.utf8.contains(0) }) {
                    throw ConfigurationError("functions.json: \(name).target.args must not contain NUL")
                }
                if secretEnv != nil || secretFile != nil {
                    throw ConfigurationError("functions.json: \(name).target runs a program, which is not signed: leave out secretEnv and secretFile")
                }
            default:
                throw ConfigurationError("functions.json: \(name).target needs a url or an exec, and not both")
            }
            if let timeout = timeoutSeconds {
                guard timeout.isFinite, timeout >= 0.001, timeout <= JobKinds.maxTimeoutSeconds else {
                    throw ConfigurationError("functions.json: \(name).target.timeoutSeconds must be more than 0 and at most \(Int(JobKinds.maxTimeoutSeconds))")
                }
            }
            if let bytes = maxResultBytes, !(1...(16 << 20)).contains(bytes) {
                throw ConfigurationError("functions.json: \(name).target.maxResultBytes must be between 1 and \(16 << 20)")
            }
            if secretEnv != nil, secretFile != nil {
                throw ConfigurationError("functions.json: \(name).target names both secretEnv and secretFile; name one")
            }
            if let variable = secretEnv, variable.isEmpty || !variable.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) }) {
                throw ConfigurationError("functions.json: \(name).target.secretEnv must be an environment variable name (A-Z, 0-9, _)")
            }
        }

        /// The runner of this target, with its secrets read from `environment` or a file.
        func runner(entry name: String, environment: [String: String]) throws -> any JobTarget {
            let maxResultBytes = self.maxResultBytes ?? HTTPTarget.defaultMaxResultBytes
            // Progress reports are checked with the processor key; a host without one sends no tokens.
            let progress = environment["CONVEYOR_PROCESSOR_KEY"].flatMap { $0.isEmpty ? nil : ProgressTokens(processorKey: $0) }
            if let exec {
                return ExecTarget(path: exec, arguments: args ?? [], maxResultBytes: maxResultBytes, progress: progress)
            }
            let signer: WebhookSigner
            let source: String
            let text: String?
            if let file = secretFile {
                source = "the file \(file)"
                text = FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) }
            } else {
                let variable = secretEnv ?? Self.defaultSecretVariable
                source = "the variable \(variable)"
                text = environment[variable]
            }
            guard let text, !text.allSatisfy(\.isWhitespace) else {
                throw ConfigurationError("functions.json: \(name).target has no signing secret: \(source) is unset or empty")
            }
            do {
                signer = try WebhookSigner(parsing: text)
            } catch {
                throw ConfigurationError("functions.json: \(name).target's signing secret in \(source) is not usable: \(error)")
            }
            return HTTPTarget(url: url ?? "", signer: signer, maxResultBytes: maxResultBytes, progress: progress)
        }
    }

    func buildTargets(environment: [String: String]) throws -> [String: any JobTarget] {
        var runners: [String: any JobTarget] = [:]
        for entry in functions {
            guard let target = entry.target else { continue }
            runners[entry.name] = try target.runner(entry: entry.name, environment: environment)
        }
        return runners
    }
}

extension FunctionManifest.JobSpec {
    /// The backoff cap: as given, or an hour (the base, when that is longer).
    var cap: Double { backoffCapSeconds ?? max(backoffBaseSeconds, 3600) }
}

/// The fields functions.json may hold: an unknown one (a typo such as `timeoutSecond`) stops
/// start-up naming the entry and the field, instead of silently meaning the default.
enum ManifestKeys {
    static let top: Set<String> = ["functions"]
    static let entry: Set<String> = ["name", "method", "path", "auth", "bodyLimitBytes", "timeoutSeconds", "description", "job", "target"]
    static let job: Set<String> = ["queue", "maxAttempts", "backoffBaseSeconds", "backoffCapSeconds", "timeoutSeconds", "queueOverride"]
    static let target: Set<String> = ["url", "exec", "args", "timeoutSeconds", "secretEnv", "secretFile", "maxResultBytes"]

    static func check(_ manifest: JSONValue) throws {
        guard let object = manifest.objectValue else { throw ConfigurationError("functions.json must be an object with \"functions\"") }
        try unknown(object, allowed: top, at: "functions.json")
        guard case .array(let entries)? = object["functions"] else { return }
        for (index, value) in entries.enumerated() {
            guard let entry = value.objectValue else { continue }
            let name = entry["name"]?.stringValue ?? "functions[\(index)]"
            try unknown(entry, allowed: self.entry, at: name)
            if let job = entry["job"]?.objectValue { try unknown(job, allowed: self.job, at: "\(name).job") }
            if let target = entry["target"]?.objectValue { try unknown(target, allowed: self.target, at: "\(name).target") }
        }
    }

    private static func unknown(_ object: [String: JSONValue], allowed: Set<String>, at place: String) throws {
        if let field = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ConfigurationError("functions.json: \(place) has an unknown field \"\(field.prefix(64))\"")
        }
    }
}
