import FoundationEssentials

/// An arbitrary JSON document, used for job payloads and results whose shape the engine does not know.
///
/// Integers are kept apart from doubles so that ids and counters survive a round trip exactly.
/// A number that neither holds exactly (`12345678901234567890`, `0.1000000000000000000001`,
/// `1e400`) is kept as its literal text, as jsonb's numeric keeps every digit.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// A valid JSON number literal that no `Int64` or `Double` holds exactly.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value as an object, or nil.
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The value as a string, or nil.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The value as an integer when it is one (or a double without a fraction), or nil.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int64(d)
        default: return nil
        }
    }

    /// The value as a double when it is a number (nearest double for a literal), or nil.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .number(let t): return Double(t)
        default: return nil
        }
    }

    /// Member lookup for objects; nil for anything else.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// True when a string or key anywhere inside holds U+0000, which jsonb cannot store.
    public var containsNUL: Bool {
        switch self {
        case .string(let s): return s.utf8.contains(0)
        case .array(let a): return a.contains { $0.containsNUL }
        case .object(let o): return o.contains { $0.key.utf8.contains(0) || $0.value.containsNUL }
        default: return false
        }
    }

    /// Compact JSON text. Slashes are not escaped; object keys come in no particular order.
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// Parses JSON text strictly (see `JSONParser`).
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONParser.parse(data)
    }

    /// Parses JSON text strictly (see `JSONParser`).
    public static func parse(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    /// Appends the value as compact JSON text.
    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            // JSON has no NaN or infinity; the decoder never produces them.
            out += d.isFinite ? "\(d)" : "null"
        case .number(let t): out += t
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            var first = true
            // Key order is not meaningful in JSON and jsonb reorders anyway: no sorting cost here.
            for (k, v) in o {
                if !first { out += "," }
                first = false
                JSONValue.writeString(k, to: &out)
                out += ":"
                v.write(to: &out)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string literal.
    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .number(let t):
            // JSONEncoder cannot write a literal; Decimal keeps up to 38 digits, which covers
            // any integer of 128 bits. Longer literals are written exactly by JSONValue's own writer.
            if let decimal = Decimal(string: t), JSONNumber.sameNumber(decimal.description, t) {
                try c.encode(decimal)
            } else {
                try c.encode(Double(t) ?? 0)
            }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
