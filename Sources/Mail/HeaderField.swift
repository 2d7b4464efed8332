/// One header field built from words that are never split, folded (RFC 5322 2.2.3) so every
/// line stays within 76 characters (RFC 2047's limit for lines with encoded words) where the
/// words allow, and within 998 always.
///
/// Only this type writes header text, and no word it is given can hold CR or LF: every word
/// comes from an encoder or a validated value, which is what makes injection impossible.
struct HeaderField {
    let name: String
    /// Words joined by single spaces when unfolded; the line may break before any of them.
    var words: [String]

    static let foldAt = 76

    init(_ name: String, words: [String]) {
        precondition(!name.isEmpty && name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") })
        self.name = name
        self.words = words
    }

    /// A field whose value is already one safe word (Date, Message-ID, MIME-Version…).
    init(_ name: String, _ value: String) {
        self.init(name, words: value.split(separator: " ").map(String.init))
    }

    /// Appends the folded field with its CRLF.
    func write(into out: inout [UInt8]) {
        out.append(contentsOf: name.utf8)
        out.append(UInt8(ascii: ":"))
        var column = name.utf8.count + 1
        for word in words {
            precondition(!HeaderSafety.hasLineBreakOrNUL(word), "a header word holds CR, LF or NUL")
            let width = word.utf8.count
            if column + 1 + width > Self.foldAt && column > 1 {
                out.append(contentsOf: [0x0D, 0x0A])
                column = 0
            }
            out.append(0x20)
            out.append(contentsOf: word.utf8)
            column += 1 + width
        }
        out.append(contentsOf: [0x0D, 0x0A])
    }
}

/// RFC 2047 encoded words and the two header grammars that use them.
enum EncodedWords {
    /// UTF-8 bytes per encoded word: 39 bytes make 52 base64 characters, and with
    /// `=?utf-8?b?` and `?=` a 64-character word, which fits a 76-character line even after
    /// `Subject: ` or `Reply-To: `.
    static let bytesPerWord = 39

    /// `text` as B-encoded words, split between Unicode scalars (RFC 2047 forbids splitting a
    /// character's bytes across words).
    static func encode(_ text: String) -> [String] {
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let bytes = Array(String(scalar).utf8)
            if chunk.count + bytes.count > bytesPerWord {
                words.append("=?utf-8?b?\(Base64.encode(chunk))?=")
                chunk.removeAll()
            }
            chunk.append(contentsOf: bytes)
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?utf-8?b?\(Base64.encode(chunk))?=") }
        return words
    }

    /// Unstructured text (Subject, X- header values): plain words when the text is printable
    /// ASCII that folds back exactly (single spaces, no edge spaces, short words, nothing that
    /// looks like an encoded word); otherwise encoded words, which decode to the exact text.
    static func unstructured(_ text: String) -> [String] {
        let plain = text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
            && !text.hasPrefix(" ") && !text.hasSuffix(" ") && !text.contains("  ") && !text.contains("=?")
        if plain {
            let words = text.split(separator: " ").map(String.init)
            if words.allSatisfy({ $0.utf8.count <= 64 }) { return words }
        }
        return encode(text)
    }

    /// A display name as a phrase: atoms as they are, other ASCII as a quoted string, and
    /// anything else as encoded words.
    static func phrase(_ name: String) -> [String] {
        let atomic = name.split(separator: " ", omittingEmptySubsequences: false)
        if atomic.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 64 && $0.utf8.allSatisfy(EmailAddress.isAtext) }) && !name.contains("=?") {
            return atomic.map(String.init)
        }
        if name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) && !name.contains("=?") && name.utf8.count <= 200 {
            var quoted = "\""
            for c in name {
                if c == "\"" || c == "\\" { quoted.append("\\") }
                quoted.append(c)
            }
            return [quoted + "\""]
        }
        return encode(name)
    }

    /// A mailbox as words: `Name <addr>` or `addr`.
    static func mailbox(_ mailbox: Mailbox) -> [String] {
        guard let name = mailbox.name else { return [mailbox.address.description] }
        return phrase(name) + ["<\(mailbox.address)>"]
    }

    /// A comma-separated mailbox list.
    static func mailboxList(_ mailboxes: [Mailbox]) -> [String] {
        var words: [String] = []
        for (i, m) in mailboxes.enumerated() {
            var w = mailbox(m)
            if i < mailboxes.count - 1 { w[w.count - 1] += "," }
            words += w
        }
        return words
    }
}
