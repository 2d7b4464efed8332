/// Number literals compared by value, digit for digit, without going through a binary float:
/// the parser keeps a literal as a double only when the double says exactly the same number.
enum JSONNumber {
    /// A literal in canonical form: sign, significant digits without leading or trailing
    /// zeros, and the power of ten of the last digit. Zero is `(false, "", 0)`.
    struct Canonical: Equatable {
        var negative: Bool
        var digits: [UInt8]
        var exponent: Int
    }

    /// Reads a JSON number literal or Swift's description of a double (`1e-05`, `1.5e+20`).
    static func canonical(_ text: String) -> Canonical? {
        var bytes = Array(text.utf8)[...]
        var negative = false
        if bytes.first == UInt8(ascii: "-") { negative = true; bytes = bytes.dropFirst() }
        var digits: [UInt8] = []
        var exponent = 0
        var seenPoint = false
        while let b = bytes.first, b != UInt8(ascii: "e"), b != UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if b == UInt8(ascii: ".") { seenPoint = true; continue }
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            digits.append(b)
            if seenPoint { exponent -= 1 }
        }
        if !bytes.isEmpty {
            bytes = bytes.dropFirst()
            guard let e = Int(String(decoding: bytes, as: UTF8.self)) else { return nil }
            exponent += e
        }
        let first = digits.firstIndex { $0 != UInt8(ascii: "0") }
        guard let first else { return Canonical(negative: false, digits: [], exponent: 0) }
        let last = digits.lastIndex { $0 != UInt8(ascii: "0") }!
        exponent += digits.count - 1 - last
        return Canonical(negative: negative, digits: Array(digits[first...last]), exponent: exponent)
    }

    /// True when two literals name the same number.
    static func sameNumber(_ a: String, _ b: String) -> Bool {
        guard let x = canonical(a), let y = canonical(b) else { return false }
        return x == y
    }

    /// True when PostgreSQL's numeric (and so jsonb) can store the literal: at most 131,072
    /// digits before the point and 16,383 after.
    static func isStorable(_ text: String) -> Bool {
        guard let c = canonical(text), text.utf8.count <= 100_000 else { return false }
        if c.digits.isEmpty { return true }
        let lastDigitPower = c.exponent, firstDigitPower = c.exponent + c.digits.count - 1
        return firstDigitPower < 131_072 && lastDigitPower >= -16_383
    }
}
