/// Picks out the things a request names: emails, URLs, amounts, ids, versions, status codes
/// and capitalized names (products, people, vendors).
enum EntityExtractor {
    static let limit = 10

    static func entities(in text: String) -> [String] {
        var found: [String] = []
        var seen: Set<String> = []
        func add(_ entity: String) {
            guard found.count < limit, !entity.isEmpty, seen.insert(entity.lowercased()).inserted else { return }
            found.append(entity)
        }
        var name: [String] = []
        func flushName() {
            if !name.isEmpty { add(name.joined(separator: " ")) }
            name = []
        }
        var sentenceStart = true
        for rawWord in text.split(whereSeparator: \.isWhitespace) {
            let word = trimmed(rawWord)
            let endsSentence = rawWord.last.map { ".!?:\n".contains($0) } ?? false
            if let pattern = patternEntity(word) {
                flushName()
                add(pattern)
            } else if isName(word), !sentenceStart {
                name.append(word)
            } else {
                flushName()
            }
            if endsSentence { flushName() }
            sentenceStart = endsSentence
        }
        flushName()
        return found
    }

    /// Strips surrounding punctuation but keeps what belongs to an entity ("$", "#", "@").
    private static func trimmed(_ word: Substring) -> String {
        var w = word
        while let first = w.first, !(first.isLetter || first.isNumber || "$€£#@".contains(first)) { w = w.dropFirst() }
        while let last = w.last, !(last.isLetter || last.isNumber) { w = w.dropLast() }
        if w.hasSuffix("'s") || w.hasSuffix("\u{2019}s") { w = w.dropLast(2) }
        return String(w)
    }

    private static func patternEntity(_ w: String) -> String? {
        let lower = w.lowercased()
        if lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("www.") { return w }
        if let at = w.firstIndex(of: "@"), at != w.startIndex, w[at...].contains(".") { return w }
        if let first = w.first, "$€£".contains(first), w.dropFirst().first?.isNumber == true { return w }
        if w.hasPrefix("#"), w.count > 1 { return w }
        let letters = w.filter(\.isLetter).count, digits = w.filter(\.isNumber).count
        // Ids such as INV-20391 or DE123456789, versions such as 3.2.1, codes such as 429 or 500.
        if letters > 0 && digits >= 3 { return w }
        if letters == 0 && w.contains(".") && w.split(separator: ".").count >= 2 && digits >= 2 { return w }
        if letters == 0 && w.count == 3, let code = Int(w), (400...599).contains(code) { return w }
        return nil
    }

    /// A capitalized word that is not a stop word ("Okta", "Priya"), or an acronym ("SAML").
    private static func isName(_ w: String) -> Bool {
        guard let first = w.first, first.isUppercase, w.count > 1, w.allSatisfy({ $0.isLetter || $0 == "-" }) else { return false }
        return !StopWords.contains(w.lowercased()) && w != "I"
    }
}
