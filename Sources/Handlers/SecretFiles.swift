import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// `NAME_FILE` for every secret: the value is read from that file (a systemd credential, a
/// Docker secret, a 0600 file) instead of sitting in the environment file or a unit. Each program
/// resolves them first thing, so everything after sees `NAME` as if it had been set.
public enum SecretFiles {
    /// The secrets that may come from a file.
    public static let names = ["DATABASE_URL", "CONVEYOR_LISTEN_DATABASE_URL", "CONVEYOR_PROCESSOR_KEY", "CONVEYOR_ADMIN_KEY", "CONVEYOR_METRICS_KEY",
                               "CONVEYOR_WEBHOOK_SECRET", "CONVEYOR_ALERT_WEBHOOK_URL", "OPENAI_API_KEY", "SMTP_URL"]

    /// The environment with each `NAME_FILE` read into `NAME`. A file that cannot be read, or a
    /// secret given both ways, is a configuration error naming the variable (never the value).
    public static func resolved(_ environment: [String: String]) throws -> [String: String] {
        var out = environment
        for name in names {
            guard let path = environment["\(name)_FILE"], !path.isEmpty else { continue }
            if let direct = environment[name], !direct.isEmpty {
                throw ConfigurationError("\(name) and \(name)_FILE are both set; keep one")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError("\(name)_FILE: cannot read \(path)")
            }
            // A trailing newline (echo > file) is not part of the secret.
            var value = String(decoding: data, as: UTF8.self)
            while value.hasSuffix("\n") || value.hasSuffix("\r") { value.removeLast() }
            guard !value.isEmpty else { throw ConfigurationError("\(name)_FILE: \(path) is empty") }
            out[name] = value
            out["\(name)_FILE"] = nil
        }
        return out
    }

    /// Resolves this process's environment in place (setenv), so children inherit the values.
    public static func resolveProcessEnvironment() throws {
        let before = ProcessInfo.processInfo.environment
        let after = try resolved(before)
        for name in names where after[name] != before[name] {
            setenv(name, after[name] ?? "", 1)
            unsetenv("\(name)_FILE")
        }
    }
}
