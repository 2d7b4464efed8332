/// Quoted-printable (RFC 2045 6.7) for text parts: readable in any mail source view, safe
/// through any relay, every line at most 76 characters.
public enum QuotedPrintable {
    static let hex = Array("0123456789ABCDEF".utf8)

    /// Appends `text` encoded. CRLF, a lone LF and a lone CR each become a hard line break
    /// (CRLF), so no bare CR or LF can reach the wire; the result always ends with CRLF.
    public static func encode(_ text: String, into out: inout [UInt8]) {
        let bytes = Array(text.utf8)
        out.reserveCapacity(out.count + bytes.count + bytes.count / 8 + 4)
        var line: [UInt8] = []
        line.reserveCapacity(80)
        var i = 0
        while i <= bytes.count {
            let atEnd = i == bytes.count
            let byte: UInt8 = atEnd ? 0 : bytes[i]
            if atEnd || byte == 0x0A || byte == 0x0D {
                emitLine(line, into: &out)
                line.removeAll(keepingCapacity: true)
                if atEnd { break }
                if byte == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 1 }
                i += 1
                continue
            }
            line.append(byte)
            i += 1
        }
    }

    /// One hard line: literal where safe, soft breaks ("=" CRLF) so no output line exceeds 76.
    static func emitLine(_ line: [UInt8], into out: inout [UInt8]) {
        var column = 0
        for (index, byte) in line.enumerated() {
            let isLast = index == line.count - 1
            let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "="))
                || ((byte == 0x20 || byte == 0x09) && !isLast)
            let width = literal ? 1 : 3
            // Leave room for the soft break's "=", except on the line's last unit.
            let limit = isLast ? 76 : 75
            if column + width > limit {
                out.append(contentsOf: [UInt8(ascii: "="), 0x0D, 0x0A])
                column = 0
            }
            if literal {
                out.append(byte)
            } else {
                out.append(UInt8(ascii: "="))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
            column += width
        }
        out.append(contentsOf: [0x0D, 0x0A])
    }
}
