/// A check that text is one JSON value jsonb will take, without building it: the processor runs
/// it on every job's result (a thousand per claim), where parsing into `JSONValue` cost as much
/// as the rest of recording an outcome.
enum JSONSyntax {
    /// Why `text` is not a storable JSON value, or nil when it is. jsonb refuses the NUL
    /// character, so an escaped `\u0000` is refused here too.
    static func problem(_ text: String, maxDepth: Int = 512) -> String? {
        var text = text
        return text.withUTF8 { bytes -> String? in
            var scanner = Scanner(bytes: bytes, maxDepth: maxDepth)
            return scanner.check()
        }
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        mutating func check() -> String? {
            skipSpace()
            if let problem = value(depth: 0) { return problem }
            skipSpace()
            return i == bytes.count ? nil : "it has text after the JSON value (byte \(i))"
        }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        func fail(_ what: String) -> String { "it is not valid JSON (\(what) at byte \(i))" }

        mutating func value(depth: Int) -> String? {
            guard depth < maxDepth else { return "it nests deeper than \(maxDepth) levels" }
            guard i < bytes.count else { return fail("it ends early") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return container(close: UInt8(ascii: "}"), keyed: true, depth: depth)
            case UInt8(ascii: "["): return container(close: UInt8(ascii: "]"), keyed: false, depth: depth)
            case UInt8(ascii: "\""): return string()
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default: return number()
            }
        }

        mutating func container(close: UInt8, keyed: Bool, depth: Int) -> String? {
            i += 1
            skipSpace()
            if i < bytes.count, bytes[i] == close {
                i += 1
                return nil
            }
            while true {
                if keyed {
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return fail("expected a member name") }
                    if let problem = string() { return problem }
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return fail("expected ':'") }
                    i += 1
                    skipSpace()
                }
                if let problem = value(depth: depth + 1) { return problem }
                skipSpace()
                guard i < bytes.count else { return fail("it ends early") }
                if bytes[i] == close {
                    i += 1
                    return nil
                }
                guard bytes[i] == UInt8(ascii: ",") else { return fail("expected ',' or the end of the container") }
                i += 1
                skipSpace()
            }
        }

        mutating func string() -> String? {
            i += 1
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") {
                    i += 1
                    return nil
                }
                if b < 0x20 { return b == 0 ? "it contains the NUL character" : fail("a control character in a string") }
                if b == UInt8(ascii: "\\") {
                    i += 1
                    guard i < bytes.count else { return fail("it ends early") }
                    switch bytes[i] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        i += 1
                    case UInt8(ascii: "u"):
                        guard i + 4 < bytes.count else { return fail("a short \\u escape") }
                        var code = 0
                        for k in 1...4 {
                            guard let digit = Self.hex(bytes[i + k]) else { return fail("a bad \\u escape") }
                            code = code * 16 + digit
                        }
                        if code == 0 { return "it contains the NUL character" }
                        i += 5
                    default:
                        return fail("a bad escape")
                    }
                    continue
                }
                i += 1
            }
            return fail("an unterminated string")
        }

        static func hex(_ b: UInt8) -> Int? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - UInt8(ascii: "A")) + 10
            default: return nil
            }
        }

        mutating func literal(_ word: StaticString) -> String? {
            let count = word.utf8CodeUnitCount
            guard i + count <= bytes.count else { return fail("it ends early") }
            for k in 0..<count where bytes[i + k] != word.utf8Start[k] { return fail("an unknown word") }
            i += count
            return nil
        }

        mutating func number() -> String? {
            let start = i
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, Self.isDigit(bytes[i]) else { return fail("an unexpected character") }
            if bytes[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard i < bytes.count, Self.isDigit(bytes[i]) else { return fail("a bad number") }
                while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard i < bytes.count, Self.isDigit(bytes[i]) else { return fail("a bad number") }
                while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
            }
            return i > start ? nil : fail("an unexpected character")
        }

        static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    }
}
