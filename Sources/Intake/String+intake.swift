extension String {
    /// The text without leading and trailing whitespace (spaces, tabs, line breaks).
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }

    /// True when the text holds C0 controls or DEL; tabs and line breaks count too, because
    /// single-line fields (names, titles) must stay on one line.
    var hasControlCharacters: Bool {
        unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// At most `limit` unicode scalars, as Postgres's char_length counts them.
    func clipped(to limit: Int) -> String {
        unicodeScalars.count <= limit ? self : String(String.UnicodeScalarView(unicodeScalars.prefix(limit)))
    }

    /// Every occurrence of `secret` replaced by `***`; short secrets are left alone, since
    /// masking every "ab" would garble the text without protecting anything.
    func redacting(_ secret: String?) -> String {
        guard let secret, secret.count >= 4 else { return self }
        var out = ""
        var rest = self[...]
        while let range = rest.firstRange(of: secret) {
            out += rest[..<range.lowerBound]
            out += "***"
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
