import Foundation
@testable import Mail
import Testing

/// The encoders, table-driven: quoted-printable, base64, encoded words, RFC 2231, dates.
struct EncodingTests {
    static func qp(_ text: String) -> String {
        var out: [UInt8] = []
        QuotedPrintable.encode(text, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Reverses quoted-printable, for round trips.
    static func unQP(_ encoded: String) -> [UInt8] {
        let bytes = Array(encoded.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "=") {
                if bytes[i + 1] == 0x0D { i += 3; continue }
                out.append(UInt8(String(decoding: bytes[i + 1...i + 2], as: UTF8.self), radix: 16)!)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    @Test(arguments: [
        ("hello", "hello\r\n"),
        ("a=b", "a=3Db\r\n"),
        ("trailing space ", "trailing space=20\r\n"),
        ("tab\tinside", "tab\tinside\r\n"),
        ("tab at end\t", "tab at end=09\r\n"),
        ("héllo", "h=C3=A9llo\r\n"),
        ("one\ntwo", "one\r\ntwo\r\n"),
        ("one\r\ntwo\rthree\n", "one\r\ntwo\r\nthree\r\n\r\n"),
        (".starts with a dot", ".starts with a dot\r\n"),
        ("", "\r\n"),
        (String(repeating: "x", count: 76), String(repeating: "x", count: 76) + "\r\n"),
        (String(repeating: "x", count: 77), String(repeating: "x", count: 75) + "=\r\nxx\r\n"),
        (String(repeating: "x", count: 74) + "é", String(repeating: "x", count: 74) + "=\r\n=C3=A9\r\n"),
    ])
    func quotedPrintable(input: String, expected: String) {
        #expect(Self.qp(input) == expected)
    }

    @Test func quotedPrintableLinesStayShortAndRoundTrip() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ab =\t.é€😀\n\r".unicodeScalars)
        for _ in 0..<200 {
            let text = String(String.UnicodeScalarView((0..<Int.random(in: 0..<400, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
            let encoded = Self.qp(text)
            for line in encoded.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast() {
                #expect(line.utf8.count <= 76)
                #expect(!line.hasSuffix(" ") && !line.hasSuffix("\t"), "whitespace at a line's end is lost in transit")
                #expect(!line.contains("\r") && !line.contains("\n"))
            }
            let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
                .replacingOccurrences(of: "\n", with: "\r\n") + "\r\n"
            #expect(Self.unQP(encoded) == Array(normalized.utf8))
        }
    }

    @Test(arguments: [
        ("", [UInt8]()), ("QQ==", [0x41]), ("QUI=", [0x41, 0x42]), ("QUJD", [0x41, 0x42, 0x43]),
        ("QQ", [0x41]), ("QUI", [0x41, 0x42]), ("QUJD\r\nREVG", Array("ABCDEF".utf8)), ("+/8=", [0xFB, 0xFF]),
    ])
    func base64Decodes(input: String, expected: [UInt8]) throws {
        #expect(try Base64.decode(input) == expected)
    }

    @Test(arguments: ["Q", "QQ=", "QQ===", "Q===", "QQ==QQ==", "QUJD=", "-_8=", "QU*D", "é"])
    func base64RejectsMalformed(input: String) {
        #expect(throws: InputProblem.self) { try Base64.decode(input) }
    }

    @Test func base64LinesAre76AndRoundTripEveryByte() throws {
        let bytes = (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 256) }
        for count in [0, 1, 2, 3, 56, 57, 58, 3000] {
            var out: [UInt8] = []
            Base64.encodeLines(Array(bytes.prefix(count)), into: &out)
            let text = String(decoding: out, as: UTF8.self)
            let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.allSatisfy { $0.utf8.count <= 76 })
            #expect(lines.dropLast().allSatisfy { $0.utf8.count == 76 })
            #expect(try Base64.decode(text) == Array(bytes.prefix(count)))
            #expect(Data(base64Encoded: lines.joined()) == Data(bytes.prefix(count)), "agrees with Foundation")
        }
    }

    @Test(arguments: [
        "Grüße aus Köln", "日本語の件名とても長いテキストです。日本語の件名とても長いテキストです。日本語の件名",
        "emoji 😀👍🏽🇫🇷 and combining é", String(repeating: "ü", count: 300), "=?utf-8?q?looks_encoded?=", "x",
    ])
    func encodedWordsAreShortAndDecodeBack(text: String) throws {
        let words = EncodedWords.encode(text)
        var decoded: [UInt8] = []
        for word in words {
            #expect(word.utf8.count <= 75)
            #expect(word.hasPrefix("=?utf-8?b?") && word.hasSuffix("?="))
            let payload = try Base64.decode(String(word.dropFirst(10).dropLast(2)))
            #expect(String(validating: payload, as: UTF8.self) != nil, "no word splits a character")
            decoded += payload
        }
        #expect(String(decoding: decoded, as: UTF8.self) == text)
    }

    @Test(arguments: [
        ("Hello world", ["Hello", "world"]),
        ("ASCII with  two spaces", nil),
        (" leading", nil),
        ("Grüße", nil),
        ("=?utf-8?b?abc?=", nil),
        (String(repeating: "a", count: 65), nil),
    ] as [(String, [String]?)])
    func unstructuredPicksPlainWordsOnlyWhenExact(text: String, plain: [String]?) {
        let words = EncodedWords.unstructured(text)
        if let plain {
            #expect(words == plain)
        } else {
            #expect(words.allSatisfy { $0.hasPrefix("=?utf-8?b?") })
        }
    }

    @Test(arguments: [
        ("Ada Lovelace", ["Ada", "Lovelace"]),
        ("Lovelace, Ada", ["\"Lovelace, Ada\""]),
        ("Say \"hi\"", ["\"Say \\\"hi\\\"\""]),
        ("O'Brien", ["O'Brien"]),
    ])
    func phrases(name: String, expected: [String]) {
        #expect(EncodedWords.phrase(name) == expected)
    }

    @Test(arguments: [
        ("report.pdf", ["filename=\"report.pdf\""]),
        ("my report.pdf", ["filename=\"my report.pdf\""]),
        ("résumé.pdf", ["filename*=utf-8''r%C3%A9sum%C3%A9.pdf"]),
        ("quote\".txt", ["filename*=utf-8''quote%22.txt"]),
        (String(repeating: "é", count: 12) + ".txt",
         ["filename*0*=utf-8''" + String(repeating: "%C3%A9", count: 6), "filename*1*=" + String(repeating: "%C3%A9", count: 6) + ".txt"]),
    ])
    func rfc2231Parameters(value: String, expected: [String]) {
        #expect(MIMEParameter.words("filename", value) == expected)
    }

    @Test(arguments: [
        (0.0, "Thu, 01 Jan 1970 00:00:00 +0000"),
        (951_782_400.0, "Tue, 29 Feb 2000 00:00:00 +0000"),
        (1_795_378_882.9, "Sun, 22 Nov 2026 20:21:22 +0000"),
        (4_133_980_799.0, "Fri, 31 Dec 2100 23:59:59 +0000"),
        (-1.0, "Wed, 31 Dec 1969 23:59:59 +0000"),
    ])
    func rfc5322Dates(seconds: Double, expected: String) {
        #expect(RFC5322Date.format(secondsSince1970: seconds) == expected)
    }

    @Test func messageIDsAreUniqueAndAtTheSendersDomain() throws {
        let ids = (0..<1000).map { _ in MessageID.generate(domain: "mail.example.com").value }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.hasPrefix("<") && $0.hasSuffix("@mail.example.com>") && $0.count == 51 })
        #expect(try MessageID(parsing: ids[0]).value == ids[0], "a generated id is valid input")
    }
}
