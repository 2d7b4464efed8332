/// Base64 (RFC 4648 alphabet) as MIME uses it: encoded in CRLF-terminated lines of at most 76
/// characters, and decoded strictly so a client's corrupt attachment is a 422, not a garbled file.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// Appends `bytes` as base64 lines of `lineLength` characters (a multiple of 4), each ending in CRLF.
    public static func encodeLines(_ bytes: [UInt8], lineLength: Int = 76, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count * 4 / 3 + bytes.count / 38 + 4)
        var column = 0
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(n > 1 ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            i += 3
            column += 4
            if column >= lineLength {
                out.append(contentsOf: [0x0D, 0x0A])
                column = 0
            }
        }
        if column > 0 { out.append(contentsOf: [0x0D, 0x0A]) }
    }

    /// `bytes` as one unbroken base64 string (for encoded words).
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        encodeLines(bytes, lineLength: Int.max, into: &out)
        if out.count >= 2 { out.removeLast(2) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard base64. Line breaks and spaces between groups are ignored (MIME-wrapped
    /// input is common); padding may be left out. Anything else, including the URL-safe
    /// alphabet, is an error that says where.
    public static func decode(_ text: String) throws(InputProblem) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var quad: UInt32 = 0
        var count = 0
        var padding = 0
        for (offset, c) in text.utf8.enumerated() {
            if c == 0x0D || c == 0x0A || c == 0x20 || c == 0x09 { continue }
            if c == UInt8(ascii: "=") {
                padding += 1
                guard padding <= 2, count >= 2 else { throw InputProblem("is not valid base64: misplaced = at offset \(offset)") }
                continue
            }
            let v = values[Int(c)]
            guard v != 0xFF else {
                let hint = (c == UInt8(ascii: "-") || c == UInt8(ascii: "_")) ? " (URL-safe base64 is not accepted; use + and /)" : ""
                throw InputProblem("is not valid base64: unexpected character at offset \(offset)\(hint)")
            }
            guard padding == 0 else { throw InputProblem("is not valid base64: data after = padding at offset \(offset)") }
            quad = quad << 6 | UInt32(v)
            count += 1
            if count == 4 {
                out.append(UInt8(truncatingIfNeeded: quad >> 16))
                out.append(UInt8(truncatingIfNeeded: quad >> 8))
                out.append(UInt8(truncatingIfNeeded: quad))
                quad = 0
                count = 0
                padding = 0
            }
        }
        switch count {
        case 0:
            guard padding == 0 else { throw InputProblem("is not valid base64: misplaced = padding") }
        case 1:
            throw InputProblem("is not valid base64: its length is not a whole number of bytes")
        case 2:
            guard padding == 0 || padding == 2 else { throw InputProblem("is not valid base64: wrong padding") }
            out.append(UInt8(truncatingIfNeeded: quad >> 4))
        default:
            guard padding <= 1 else { throw InputProblem("is not valid base64: wrong padding") }
            out.append(UInt8(truncatingIfNeeded: quad >> 10))
            out.append(UInt8(truncatingIfNeeded: quad >> 2))
        }
        return out
    }
}
