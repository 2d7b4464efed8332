import JobQueue

/// Typed reads from a request body's JSON object, each failure naming its field.
struct JSONFields {
    let object: [String: JSONValue]
    let prefix: String

    /// Wraps `json`, which must be an object holding only `allowed` keys: an unknown key is a
    /// client's typo, refused rather than silently ignored.
    init(_ json: JSONValue, allowed: [String], prefix: String = "") throws {
        guard case .object(let o) = json else {
            throw prefix.isEmpty ? IntakeError(.invalidInput, "the body must be a JSON object") : IntakeError.invalid(prefix, "must be a JSON object")
        }
        self.object = o
        self.prefix = prefix
        if let unknown = o.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw IntakeError.invalid(path(unknown), "unknown field; expected one of \(allowed.joined(separator: ", "))")
        }
    }

    func path(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    /// The raw value; null counts as absent.
    func value(_ name: String) -> JSONValue? {
        if case .null? = object[name] { return nil }
        return object[name]
    }

    func string(_ name: String) throws -> String? {
        guard let v = value(name) else { return nil }
        guard case .string(let s) = v else { throw IntakeError.invalid(path(name), "must be a string") }
        return s
    }

    func int64(_ name: String) throws -> Int64? {
        guard let v = value(name) else { return nil }
        guard case .int(let i) = v else { throw IntakeError.invalid(path(name), "must be a whole number") }
        return i
    }

    func int(_ name: String) throws -> Int? {
        try int64(name).map { Int(clamping: $0) }
    }

    func bool(_ name: String) throws -> Bool? {
        guard let v = value(name) else { return nil }
        guard case .bool(let b) = v else { throw IntakeError.invalid(path(name), "must be true or false") }
        return b
    }

    func strings(_ name: String) throws -> [String]? {
        guard let v = value(name) else { return nil }
        guard case .array(let items) = v else { throw IntakeError.invalid(path(name), "must be an array of strings") }
        return try items.enumerated().map { i, item in
            guard case .string(let s) = item else { throw IntakeError.invalid("\(path(name))[\(i)]", "must be a string") }
            return s
        }
    }
}
