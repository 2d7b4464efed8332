import FoundationEssentials

/// A Swift value that can be sent to the server as a text-format parameter.
public protocol PostgresEncodable: Sendable {
    /// The value in Postgres text input syntax.
    var postgresText: String { get }
    /// The value as a bind parameter: `postgresText`, or nil for SQL NULL.
    /// Only `Optional` overrides the default; it is what lets `[Int?]` and `\(optional)` send NULL.
    var postgresBindValue: String? { get }
}

extension PostgresEncodable {
    public var postgresBindValue: String? { postgresText }
}

/// A Swift value that can be built from a non-NULL Postgres text-format result value.
public protocol PostgresDecodable {
    /// Parses the server's text output; throws `PostgresError(.decoding)` when it does not fit.
    init(postgresText: String) throws
}

/// Lets generic code produce `nil` for a NULL when the requested type is itself optional.
protocol PostgresNullable {
    static var postgresNull: Self { get }
}

extension Optional: PostgresNullable {
    static var postgresNull: Optional { nil }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    /// The wrapped value's text, or `NULL` (the array-literal spelling) for nil.
    /// Bind parameters use `postgresBindValue`, which is a real NULL.
    public var postgresText: String { self?.postgresText ?? "NULL" }
    public var postgresBindValue: String? { self?.postgresBindValue }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText: String) throws {
        self = .some(try Wrapped(postgresText: postgresText))
    }
}

func decodingError<T>(_ text: String, as type: T.Type) -> PostgresError {
    // Long values (documents, blobs) would swamp the message, so show only a prefix.
    let shown = text.count > 64 ? String(text.prefix(64)) + "…" : text
    return PostgresError(.decoding, message: "cannot decode \"\(shown)\" as \(T.self)")
}

// MARK: - Strings

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { self }
    public init(postgresText: String) { self = postgresText }
}

extension Substring: PostgresEncodable {
    public var postgresText: String { String(self) }
}

// MARK: - Integers

extension Int: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText: String) throws {
        guard let value = Int(postgresText) else { throw decodingError(postgresText, as: Int.self) }
        self = value
    }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText: String) throws {
        guard let value = Int64(postgresText) else { throw decodingError(postgresText, as: Int64.self) }
        self = value
    }
}

extension Int32: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText: String) throws {
        guard let value = Int32(postgresText) else { throw decodingError(postgresText, as: Int32.self) }
        self = value
    }
}

extension Int16: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { String(self) }
    public init(postgresText: String) throws {
        guard let value = Int16(postgresText) else { throw decodingError(postgresText, as: Int16.self) }
        self = value
    }
}

// MARK: - Bool

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { self ? "true" : "false" }
    public init(postgresText: String) throws {
        // The server prints "t"/"f"; the long forms appear when text was cast by hand.
        switch postgresText {
        case "t", "true", "TRUE", "on", "1": self = true
        case "f", "false", "FALSE", "off", "0": self = false
        default: throw decodingError(postgresText, as: Bool.self)
        }
    }
}

// MARK: - Floating point

extension Double: PostgresEncodable, PostgresDecodable {
    public var postgresText: String {
        // Swift spells these "nan"/"inf"; use the server's own spelling.
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return String(self)
    }
    public init(postgresText: String) throws {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Double(postgresText) else { throw decodingError(postgresText, as: Double.self) }
            self = value
        }
    }
}

extension Float: PostgresEncodable, PostgresDecodable {
    public var postgresText: String {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return String(self)
    }
    public init(postgresText: String) throws {
        switch postgresText {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            guard let value = Float(postgresText) else { throw decodingError(postgresText, as: Float.self) }
            self = value
        }
    }
}

// MARK: - UUID

extension UUID: PostgresEncodable, PostgresDecodable {
    public var postgresText: String { uuidString.lowercased() }
    public init(postgresText: String) throws {
        guard let value = UUID(uuidString: postgresText) else { throw decodingError(postgresText, as: UUID.self) }
        self = value
    }
}

// MARK: - bytea

extension Data: PostgresEncodable, PostgresDecodable {
    /// bytea hex format: `\x` followed by two lowercase hex digits per byte.
    public var postgresText: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = [UInt8(ascii: "\\"), UInt8(ascii: "x")]
        bytes.reserveCapacity(2 + count * 2)
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Accepts the hex format (the default) and the legacy escape format (bytea_output=escape).
    public init(postgresText: String) throws {
        let utf8 = Array(postgresText.utf8)
        if utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x") {
            guard utf8.count % 2 == 0 else { throw decodingError(postgresText, as: Data.self) }
            var bytes = [UInt8]()
            bytes.reserveCapacity((utf8.count - 2) / 2)
            var i = 2
            while i < utf8.count {
                guard let high = hexValue(utf8[i]), let low = hexValue(utf8[i + 1]) else {
                    throw decodingError(postgresText, as: Data.self)
                }
                bytes.append(high << 4 | low)
                i += 2
            }
            self = Data(bytes)
            return
        }
        var bytes = [UInt8]()
        var i = 0
        while i < utf8.count {
            if utf8[i] != UInt8(ascii: "\\") {
                bytes.append(utf8[i])
                i += 1
            } else if i + 1 < utf8.count, utf8[i + 1] == UInt8(ascii: "\\") {
                bytes.append(UInt8(ascii: "\\"))
                i += 2
            } else if i + 3 < utf8.count, let value = octalByte(utf8[i + 1], utf8[i + 2], utf8[i + 3]) {
                bytes.append(value)
                i += 4
            } else {
                throw decodingError(postgresText, as: Data.self)
            }
        }
        self = Data(bytes)
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

private func octalByte(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> UInt8? {
    let zero = UInt8(ascii: "0")
    guard (zero...zero + 3).contains(a), (zero...zero + 7).contains(b), (zero...zero + 7).contains(c) else {
        return nil
    }
    return (a - zero) << 6 | (b - zero) << 3 | (c - zero)
}
