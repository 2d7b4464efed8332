import FoundationEssentials

extension QueueSettings {
    /// The fields a queue's JSON may have.
    public static let fields = ["name", "concurrency", "rateLimit", "perOrg", "perFlowKey", "paused", "maxAttempts", "backoff", "retention", "updatedAt"]

    /// Applies the fields present in `json` and keeps the others: a field given as null goes
    /// back to unset (unlimited, or the engine default). `prefix` names fields in errors
    /// (`queues[2]`). `updatedAt` is accepted and ignored, so a GET answer can be sent back.
    public mutating func apply(_ json: JSONValue, field prefix: String = "") throws {
        func path(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }
        guard case .object(let o) = json else {
            throw prefix.isEmpty ? JobQueueError(.invalidInput, "the body must be a JSON object") : JobQueueError.invalid(prefix, "must be a JSON object")
        }
        if let unknown = o.keys.sorted().first(where: { !Self.fields.contains($0) }) {
            throw JobQueueError.invalid(path(unknown), "unknown field; expected one of \(Self.fields.joined(separator: ", "))")
        }
        if let given = o["name"], given != .string(name) {
            throw JobQueueError.invalid(path("name"), "must match the queue's name in the path (\(name))")
        }
        func object(_ value: JSONValue, _ field: String, _ keys: [String]) throws -> [String: JSONValue] {
            guard case .object(let inner) = value else { throw JobQueueError.invalid(path(field), "must be an object or null") }
            if let unknown = inner.keys.sorted().first(where: { !keys.contains($0) }) {
                throw JobQueueError.invalid(path("\(field).\(unknown)"), "unknown field; expected \(keys.joined(separator: ", "))")
            }
            return inner
        }
        func whole(_ value: JSONValue?, _ field: String, _ range: ClosedRange<Int64>) throws -> Int {
            guard let value, case .int(let i) = value, range.contains(i) else {
                throw JobQueueError.invalid(path(field), "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return Int(i)
        }
        func seconds(_ value: JSONValue?, _ field: String, _ range: ClosedRange<Double>) throws -> Double {
            let d: Double
            switch value {
            case .int(let i)?: d = Double(i)
            case .double(let x)?: d = x
            case .number(let t)?: d = Double(t) ?? .infinity
            default: throw JobQueueError.invalid(path(field), "must be a number of seconds from \(range.lowerBound) to \(range.upperBound)")
            }
            guard d.isFinite, range.contains(d) else {
                throw JobQueueError.invalid(path(field), "must be a number of seconds from \(range.lowerBound) to \(range.upperBound)")
            }
            return d
        }
        func rate(_ v: JSONValue, _ field: String) throws -> RateLimit? {
            guard v != .null else { return nil }
            let r = try object(v, field, ["limit", "periodSeconds"])
            return RateLimit(limit: try whole(r["limit"], "\(field).limit", 1...1_000_000_000),
                             periodSeconds: try seconds(r["periodSeconds"], "\(field).periodSeconds", 0.1...86_400))
        }
        func limits(_ v: JSONValue, _ field: String, keeping old: Limits) throws -> Limits {
            guard v != .null else { return Limits() }
            let l = try object(v, field, ["concurrency", "rateLimit"])
            var next = old
            if let c = l["concurrency"] { next.concurrency = c == .null ? nil : try whole(c, "\(field).concurrency", 1...1_000_000) }
            if let r = l["rateLimit"] { next.rateLimit = try rate(r, "\(field).rateLimit") }
            return next
        }
        var next = self
        if let v = o["concurrency"] { next.concurrency = v == .null ? nil : try whole(v, "concurrency", 1...1_000_000) }
        if let v = o["rateLimit"] { next.rateLimit = try rate(v, "rateLimit") }
        if let v = o["perOrg"] { next.perOrg = try limits(v, "perOrg", keeping: perOrg) }
        if let v = o["perFlowKey"] { next.perFlowKey = try limits(v, "perFlowKey", keeping: perFlowKey) }
        if let v = o["paused"] {
            guard case .bool(let b) = v else { throw JobQueueError.invalid(path("paused"), "must be true or false") }
            next.paused = b
        }
        if let v = o["maxAttempts"] { next.maxAttempts = v == .null ? nil : try whole(v, "maxAttempts", 1...100) }
        if let v = o["backoff"] {
            if v == .null {
                next.backoff = nil
            } else {
                let b = try object(v, "backoff", ["baseSeconds", "capSeconds"])
                let base = try seconds(b["baseSeconds"], "backoff.baseSeconds", 0.001...86_400)
                let cap = try seconds(b["capSeconds"], "backoff.capSeconds", base...(30 * 86_400))
                next.backoff = Backoff(baseSeconds: base, capSeconds: cap)
            }
        }
        if let v = o["retention"] {
            if v == .null {
                next.retention = Retention()
            } else {
                let r = try object(v, "retention", ["completedSeconds", "deadSeconds"])
                let tenYears: Int64 = 10 * 366 * 86_400
                if let c = r["completedSeconds"] {
                    next.retention.completedSeconds = c == .null ? nil : try whole(c, "retention.completedSeconds", 0...tenYears)
                }
                if let d = r["deadSeconds"] {
                    next.retention.deadSeconds = d == .null ? nil : try whole(d, "retention.deadSeconds", 0...tenYears)
                }
            }
        }
        self = next
    }

    /// Parses `deploy/queues.json`: `{"queues": [{"name": "email", "concurrency": 5, …}, …]}`.
    /// Each entry is a partial update: fields it leaves out (typically `paused`) keep the value
    /// an operator set, so applying the file at every start is idempotent and undoes nothing
    /// but what the file itself says.
    public static func parseFile(_ data: Data) throws -> [(name: String, patch: JSONValue)] {
        let root: JSONValue
        do {
            root = try JSONValue.parse(data)
        } catch {
            throw JobQueueError(.invalidInput, "not valid JSON: \(error)")
        }
        guard case .object(let o) = root, o.count == 1, case .array(let entries)? = o["queues"] else {
            throw JobQueueError.invalid("queues", "the file must be an object with one field, queues: an array of queue objects")
        }
        var seen = Set<String>()
        return try entries.enumerated().map { i, entry in
            guard case .string(let name)? = entry["name"], JobRequest.isValidQueueName(name) else {
                throw JobQueueError.invalid("queues[\(i)].name", "must be a queue name: 1 to 64 characters of a-z, 0-9, '_', '-' or '.'")
            }
            guard seen.insert(name).inserted else { throw JobQueueError.invalid("queues[\(i)].name", "names \(name) a second time") }
            var check = QueueSettings(name: name)
            try check.apply(entry, field: "queues[\(i)]")
            return (name, entry)
        }
    }
}
