import FoundationEssentials
import JobQueue
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// How the three programs log: `CONVEYOR_LOG_FORMAT` (`text`, the default, or `json`: one
/// object per line for a log shipper) and `CONVEYOR_LOG_LEVEL` (trace … critical, default info).
/// Lines go to standard error, which systemd's journal keeps.
public enum ConveyorLog {
    public enum Format: String, Sendable, CaseIterable { case text, json }

    public struct Settings: Sendable, Equatable {
        public var format: Format
        public var level: Logger.Level
    }

    /// The settings from the environment; a value that is not one of the choices is a
    /// configuration error naming the variable and the choices.
    public static func settings(environment: [String: String]) throws -> Settings {
        var settings = Settings(format: .text, level: .info)
        if let text = environment["CONVEYOR_LOG_FORMAT"], !text.isEmpty {
            guard let format = Format(rawValue: text.lowercased()) else {
                throw ConfigurationError("CONVEYOR_LOG_FORMAT must be text or json")
            }
            settings.format = format
        }
        if let text = environment["CONVEYOR_LOG_LEVEL"], !text.isEmpty {
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw ConfigurationError("CONVEYOR_LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            settings.level = level
        }
        return settings
    }

    /// Installs the handler for this process (once; swift-log allows no second time).
    public static func bootstrap(_ settings: Settings) {
        LoggingSystem.bootstrap { label in
            var handler = ConveyorLogHandler(label: label, format: settings.format, write: ConveyorLogHandler.standardError)
            handler.logLevel = settings.level
            return handler
        }
    }
}

/// One line per event, as text (`time level label: message key=value …`) or as a JSON
/// object. Metadata keys come sorted; CR and LF in text values are escaped, so nothing a client
/// sent can forge a line.
public struct ConveyorLogHandler: LogHandler {
    public let label: String
    public let format: ConveyorLog.Format
    let write: @Sendable (String) -> Void
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init(label: String, format: ConveyorLog.Format, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.format = format
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let more = event.metadata { all.merge(more) { $1 } }
        write(Self.line(time: Date(), level: event.level, label: label, message: "\(event.message)", metadata: all, format: format))
    }

    /// The line for one event, newline included.
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, format: ConveyorLog.Format) -> String {
        let keys = metadata.keys.sorted()
        switch format {
        case .json:
            var out = "{\"time\":\"\(Timestamp.format(time))\",\"level\":\"\(level.rawValue)\",\"logger\":"
            JSONValue.writeString(label, to: &out)
            out += ",\"message\":"
            JSONValue.writeString(message, to: &out)
            for key in keys where !["time", "level", "logger", "message"].contains(key) {
                out += ","
                JSONValue.writeString(key, to: &out)
                out += ":"
                json(metadata[key]!).write(to: &out)
            }
            return out + "}\n"
        case .text:
            var out = "\(Timestamp.format(time)) \(level.rawValue) \(label): \(escaped(message))"
            for key in keys { out += " \(key)=\(escaped("\(metadata[key]!)"))" }
            return out + "\n"
        }
    }

    static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .stringConvertible(let c): return .string(c.description)
        case .array(let a): return .array(a.map(json))
        case .dictionary(let d): return .object(d.mapValues(json))
        }
    }

    static func escaped(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 10 || $0 == 13 }) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Writes a whole line with one write(2), so lines of concurrent threads never interleave.
    public static let standardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            offset += n
        }
    }
}
