/// The Porter (1980) suffix-stripping stemmer for lower-case English words, so that
/// "invoices", "invoiced" and "invoicing" all meet as "invoic". Words with anything but
/// ASCII letters, and words of one or two letters, are returned unchanged.
enum PorterStemmer {
    /// The stem of `word`, which should already be lower-cased.
    static func stem(_ word: String) -> String {
        let bytes = Array(word.utf8)
        guard bytes.count > 2, bytes.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else { return word }
        var w = PorterWord(bytes)
        w.step1a(); w.step1b(); w.step1c(); w.step2(); w.step3(); w.step4(); w.step5()
        return String(decoding: w.b, as: UTF8.self)
    }
}

/// The word being stemmed, with the measure and shape tests the algorithm is written in.
private struct PorterWord {
    var b: [UInt8]

    init(_ b: [UInt8]) { self.b = b }

    func isConsonant(_ i: Int) -> Bool {
        switch b[i] {
        case UInt8(ascii: "a"), UInt8(ascii: "e"), UInt8(ascii: "i"), UInt8(ascii: "o"), UInt8(ascii: "u"):
            return false
        case UInt8(ascii: "y"):
            // "y" after a consonant acts as a vowel ("happy"), otherwise as a consonant ("yes").
            return i == 0 ? true : !isConsonant(i - 1)
        default:
            return true
        }
    }

    /// The number of vowel-consonant sequences in `b[0..<end]`: [C](VC)^m[V].
    func measure(_ end: Int) -> Int {
        var n = 0, i = 0
        while i < end && isConsonant(i) { i += 1 }
        while i < end {
            while i < end && !isConsonant(i) { i += 1 }
            if i >= end { break }
            while i < end && isConsonant(i) { i += 1 }
            n += 1
        }
        return n
    }

    func hasVowel(_ end: Int) -> Bool { (0..<end).contains { !isConsonant($0) } }

    func endsDoubleConsonant(_ end: Int) -> Bool {
        end >= 2 && b[end - 1] == b[end - 2] && isConsonant(end - 1)
    }

    /// consonant-vowel-consonant at `end`, the last not w, x or y ("hop" but not "snow").
    func endsCVC(_ end: Int) -> Bool {
        guard end >= 3, isConsonant(end - 3), !isConsonant(end - 2), isConsonant(end - 1) else { return false }
        let last = b[end - 1]
        return last != UInt8(ascii: "w") && last != UInt8(ascii: "x") && last != UInt8(ascii: "y")
    }

    func ends(_ suffix: String) -> Bool {
        let s = Array(suffix.utf8)
        return s.count <= b.count && Array(b[(b.count - s.count)...]) == s
    }

    /// Replaces `suffix` (which the word ends with) by `replacement`.
    mutating func replace(_ suffix: String, with replacement: String) {
        b.removeLast(suffix.utf8.count)
        b.append(contentsOf: Array(replacement.utf8))
    }

    /// Applies the first rule whose suffix matches, if the remaining stem has a measure above 0.
    mutating func applyFirst(_ rules: [(String, String)]) {
        guard let (suffix, replacement) = rules.first(where: { ends($0.0) }) else { return }
        if measure(b.count - suffix.utf8.count) > 0 { replace(suffix, with: replacement) }
    }

    mutating func step1a() {
        if ends("sses") { replace("sses", with: "ss") }
        else if ends("ies") { replace("ies", with: "i") }
        else if ends("ss") { return }
        else if ends("s") { b.removeLast() }
    }

    mutating func step1b() {
        if ends("eed") {
            if measure(b.count - 3) > 0 { b.removeLast() }
            return
        }
        var removed = false
        for suffix in ["ed", "ing"] where ends(suffix) && hasVowel(b.count - suffix.utf8.count) {
            b.removeLast(suffix.utf8.count)
            removed = true
            break
        }
        guard removed else { return }
        if ends("at") || ends("bl") || ends("iz") {
            b.append(UInt8(ascii: "e"))
        } else if endsDoubleConsonant(b.count), !(ends("l") || ends("s") || ends("z")) {
            b.removeLast()
        } else if measure(b.count) == 1 && endsCVC(b.count) {
            b.append(UInt8(ascii: "e"))
        }
    }

    mutating func step1c() {
        if ends("y") && hasVowel(b.count - 1) { b[b.count - 1] = UInt8(ascii: "i") }
    }

    mutating func step2() {
        applyFirst([
            ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
            ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"),
            ("ization", "ize"), ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"),
            ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
            ("logi", "log"),
        ])
    }

    mutating func step3() {
        applyFirst([
            ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"),
            ("ful", ""), ("ness", ""),
        ])
    }

    mutating func step4() {
        let suffixes = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
                        "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize"]
        // The longest matching suffix wins; "ement" before "ment" before "ent".
        guard let suffix = suffixes.filter({ ends($0) }).max(by: { $0.utf8.count < $1.utf8.count }) else { return }
        let stemEnd = b.count - suffix.utf8.count
        guard measure(stemEnd) > 1 else { return }
        if suffix == "ion" {
            guard stemEnd > 0, b[stemEnd - 1] == UInt8(ascii: "s") || b[stemEnd - 1] == UInt8(ascii: "t") else { return }
        }
        b.removeLast(suffix.utf8.count)
    }

    mutating func step5() {
        if ends("e") {
            let m = measure(b.count - 1)
            if m > 1 || (m == 1 && !endsCVC(b.count - 1)) { b.removeLast() }
        }
        if ends("ll") && measure(b.count) > 1 { b.removeLast() }
    }
}
