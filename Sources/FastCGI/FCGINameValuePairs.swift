/// FastCGI name-value pairs, as carried by `PARAMS`, `GET_VALUES` and `GET_VALUES_RESULT`.
///
/// Each length is one byte when it is below 128, else four bytes with the top bit set.
public enum FCGINameValuePairs {
    /// The largest length the 4-byte form can express.
    public static let maxLength = 0x7FFF_FFFF

    /// Encodes pairs in the given order.
    public static func encode(_ pairs: [(name: [UInt8], value: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in pairs {
            appendLength(name.count, to: &out)
            appendLength(value.count, to: &out)
            out.append(contentsOf: name)
            out.append(contentsOf: value)
        }
        return out
    }

    /// Encodes string pairs as UTF-8.
    public static func encode(_ pairs: [(String, String)]) -> [UInt8] {
        encode(pairs.map { (Array($0.0.utf8), Array($0.1.utf8)) })
    }

    /// Decodes a complete stream of pairs; a truncated or oversized length is malformed.
    public static func decode(_ bytes: [UInt8]) throws -> [(name: [UInt8], value: [UInt8])] {
        var pairs: [(name: [UInt8], value: [UInt8])] = []
        var i = 0
        while i < bytes.count {
            let nameLength = try readLength(bytes, at: &i)
            let valueLength = try readLength(bytes, at: &i)
            guard bytes.count - i >= nameLength, bytes.count - i - nameLength >= valueLength else {
                throw FCGIError(.malformedRecord, "a name-value pair runs past the end of its stream")
            }
            pairs.append((Array(bytes[i..<i + nameLength]), Array(bytes[i + nameLength..<i + nameLength + valueLength])))
            i += nameLength + valueLength
        }
        return pairs
    }

    /// Decodes pairs into a dictionary of strings (invalid UTF-8 is replaced; a repeated name keeps
    /// the last value, as a CGI environment would).
    public static func decodeStrings(_ bytes: [UInt8]) throws -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in try decode(bytes) {
            result[String(decoding: name, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
        }
        return result
    }

    static func appendLength(_ length: Int, to out: inout [UInt8]) {
        precondition(length >= 0 && length <= maxLength, "a name or value is too long for FastCGI")
        if length < 128 {
            out.append(UInt8(length))
        } else {
            out.append(UInt8((length >> 24) & 0x7F) | 0x80)
            out.append(UInt8((length >> 16) & 0xFF))
            out.append(UInt8((length >> 8) & 0xFF))
            out.append(UInt8(length & 0xFF))
        }
    }

    static func readLength(_ bytes: [UInt8], at i: inout Int) throws -> Int {
        guard i < bytes.count else { throw FCGIError(.malformedRecord, "a name-value pair is cut short") }
        let first = bytes[i]
        if first < 128 {
            i += 1
            return Int(first)
        }
        guard bytes.count - i >= 4 else { throw FCGIError(.malformedRecord, "a 4-byte name-value length is cut short") }
        let length = Int(first & 0x7F) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        i += 4
        return length
    }
}
