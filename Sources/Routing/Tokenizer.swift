/// One word of an intake text or pipeline profile after normalization.
struct Token: Sendable, Equatable {
    /// The word as written (lower-cased), or the phrase it stands for ("sign in").
    var surface: String
    /// The stem the router matches on; canonical phrase tokens ("login") are stems already.
    var stem: String
}

/// Splits text into words, joins known phrases, drops stop words and stems the rest.
/// The same tokenizer reads requests and pipeline profiles, so both meet on the same stems.
enum Tokenizer {
    /// The lower-cased words of `text`: runs of letters and digits. Apostrophes inside a word
    /// are dropped ("can't" → "cant") and a possessive "'s" goes ("sarah's" → "sarah").
    static func words(_ text: String) -> [String] {
        var raw: [String] = []
        var current = ""
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber || ch == "'" || ch == "\u{2019}" {
                current.append(ch == "\u{2019}" ? "'" : ch)
            } else if !current.isEmpty {
                raw.append(current)
                current = ""
            }
        }
        if !current.isEmpty { raw.append(current) }
        return raw.compactMap { word in
            var w = Substring(word)
            while w.first == "'" { w = w.dropFirst() }
            while w.last == "'" { w = w.dropLast() }
            if w.hasSuffix("'s") { w = w.dropLast(2) }
            let joined = w.filter { $0 != "'" }
            return joined.isEmpty ? nil : joined
        }
    }

    /// The content tokens of `text`: phrases joined, stop words dropped, the rest stemmed.
    /// Pure numbers are dropped too: they name things, they do not say what a request is about.
    static func tokens(_ text: String) -> [Token] {
        var result: [Token] = []
        for word in Lexicon.joinPhrases(words(text)) {
            if let canonical = word.canonical {
                result.append(Token(surface: word.text, stem: canonical))
                continue
            }
            let w = word.text
            guard !StopWords.contains(w), !w.allSatisfy(\.isNumber), w.count > 1 || w == "x" else { continue }
            let stem = PorterStemmer.stem(w)
            guard !StopWords.containsStem(stem) else { continue }
            result.append(Token(surface: w, stem: stem))
        }
        return result
    }
}
