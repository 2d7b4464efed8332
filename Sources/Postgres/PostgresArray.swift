/// One-dimensional arrays in Postgres array-literal syntax: `{"a","b c",NULL}`.
extension Array: PostgresEncodable where Element: PostgresEncodable {
    /// Every element is double-quoted, so commas, braces, spaces, empty strings and the
    /// word NULL need no special cases; only `"` and `\` are backslash-escaped.
    /// nil elements (for `[T?]`) become an unquoted NULL.
    public var postgresText: String {
        // Built as UTF-8 bytes: an outcome batch is a thousand JSON texts full of quotes, and
        // appending them scalar by scalar to a String was a fifth of process-batch's time.
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(2 + count * 8)
        for (index, element) in enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            if let value = element.postgresBindValue {
                PostgresArrayLiteral.appendQuoted(value, to: &bytes)
            } else {
                bytes.append(contentsOf: "NULL".utf8)
            }
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// Decodes a one-dimensional array. A NULL element decodes to nil when `Element` is
    /// optional (`[Int?]`) and throws otherwise.
    public init(postgresText: String) throws {
        let items = try PostgresArrayLiteral.parse(postgresText)
        var result: [Element] = []
        result.reserveCapacity(items.count)
        for item in items {
            if let item {
                result.append(try Element(postgresText: item))
            } else if let nullable = Element.self as? any PostgresNullable.Type,
                let null = nullable.postgresNull as? Element
            {
                result.append(null)
            } else {
                throw PostgresError(
                    .decoding,
                    message: "array contains NULL but \(Element.self) is not optional (decode as [\(Element.self)?])")
            }
        }
        self = result
    }
}

enum PostgresArrayLiteral {
    static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            for byte in utf8 {
                // Multi-byte characters never contain these ASCII bytes, so bytes are safe here.
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Splits an array literal into element texts (nil = NULL). Works on UTF-8 bytes: every
    /// syntax character is ASCII, so multi-byte characters pass through untouched.
    static func parse(_ text: String) throws -> [String?] {
        let bytes = Array(text.utf8)
        var i = 0
        func fail(_ why: String) -> PostgresError {
            PostgresError(.decoding, message: "malformed array literal (\(why)): \(text.prefix(80))")
        }
        func skipSpace() {
            while i < bytes.count, isSpace(bytes[i]) { i += 1 }
        }

        skipSpace()
        // Arrays with a lower bound other than 1 carry a dimension prefix: `[0:2]={1,2,3}`.
        if i < bytes.count, bytes[i] == UInt8(ascii: "[") {
            while i < bytes.count, bytes[i] != UInt8(ascii: "=") { i += 1 }
            i += 1
            skipSpace()
        }
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { throw fail("expected {") }
        i += 1
        skipSpace()

        var items: [String?] = []
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") {
            i += 1
        } else {
            while true {
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated") }
                var element: [UInt8] = []
                if bytes[i] == UInt8(ascii: "\"") {
                    i += 1
                    while true {
                        guard i < bytes.count else { throw fail("unterminated quote") }
                        let byte = bytes[i]
                        if byte == UInt8(ascii: "\"") { break }
                        if byte == UInt8(ascii: "\\") {
                            i += 1
                            guard i < bytes.count else { throw fail("dangling backslash") }
                        }
                        element.append(bytes[i])
                        i += 1
                    }
                    i += 1
                    items.append(String(decoding: element, as: UTF8.self))
                } else if bytes[i] == UInt8(ascii: "{") {
                    throw fail("multi-dimensional arrays are not supported")
                } else {
                    var escaped = false
                    // Length of `element` up to its last escaped or non-space byte, so trailing
                    // whitespace is dropped but an escaped trailing space is kept.
                    var keep = 0
                    while i < bytes.count, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: "}") {
                        if bytes[i] == UInt8(ascii: "\\") {
                            i += 1
                            guard i < bytes.count else { throw fail("dangling backslash") }
                            escaped = true
                            element.append(bytes[i])
                            keep = element.count
                        } else {
                            element.append(bytes[i])
                            if !isSpace(bytes[i]) { keep = element.count }
                        }
                        i += 1
                    }
                    element.removeLast(element.count - keep)
                    if element.isEmpty && !escaped { throw fail("empty element") }
                    if !escaped, element.count == 4,
                        String(decoding: element, as: UTF8.self).uppercased() == "NULL"
                    {
                        items.append(nil)
                    } else {
                        items.append(String(decoding: element, as: UTF8.self))
                    }
                }
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated") }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected , or }") }
                i += 1
                break
            }
        }
        skipSpace()
        guard i == bytes.count else { throw fail("text after closing brace") }
        return items
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 32 || (9...13).contains(byte)
    }
}

/// An array parameter already in array-literal text: built by the non-generic functions below,
/// which a hot statement (1,000 outcomes at a time) calls instead of the generic `Array`
/// encoding, whose per-element generic dispatch showed up in profiles.
public struct PostgresArrayText: PostgresEncodable {
    public let postgresText: String

    /// `{"1","2"}`-style text of whole numbers.
    public static func integers<T: FixedWidthInteger>(_ values: [T]) -> PostgresArrayText {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(2 + values.count * 8)
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: String(value).utf8)
        }
        bytes.append(UInt8(ascii: "}"))
        return PostgresArrayText(postgresText: String(decoding: bytes, as: UTF8.self))
    }

    /// Numbers as Postgres reads them (finite values only: callers clamp).
    public static func doubles(_ values: [Double]) -> PostgresArrayText {
        PostgresArrayText(postgresText: "{" + values.map { $0.isFinite ? String($0) : "0" }.joined(separator: ",") + "}")
    }

    /// Texts, each quoted; nil is NULL.
    public static func texts(_ values: [String?]) -> PostgresArrayText {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(2 + values.count * 16)
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            if let value {
                PostgresArrayLiteral.appendQuoted(value, to: &bytes)
            } else {
                bytes.append(contentsOf: "NULL".utf8)
            }
        }
        bytes.append(UInt8(ascii: "}"))
        return PostgresArrayText(postgresText: String(decoding: bytes, as: UTF8.self))
    }
}
