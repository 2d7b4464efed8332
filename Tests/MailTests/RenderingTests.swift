import Foundation
@testable import Mail
import Testing

/// The rendered bytes, checked in process: MIME structure, CRLF, line lengths, boundaries.
struct RenderingTests {
    static func message(_ json: String) throws -> EmailMessage {
        try ValidationTests.validate(json)
    }

    /// Splits on CRLF, failing the test on any bare CR or LF.
    static func lines(_ bytes: [UInt8]) -> [String] {
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasSuffix("\r\n"))
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(!lines.contains { $0.contains("\r") || $0.contains("\n") }, "a bare CR or LF")
        return lines
    }

    /// The checks every rendered or received message must pass: CRLF only, header lines within
    /// 998 (76 where they hold encoded words), every line after the header block within 76.
    static func expectWellFormed(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        let all = lines(bytes)
        guard let blank = all.firstIndex(of: "") else {
            Issue.record("no blank line after the headers", sourceLocation: sourceLocation)
            return
        }
        for line in all[..<blank] {
            #expect(line.utf8.count <= 998, "header line of \(line.utf8.count)", sourceLocation: sourceLocation)
            if line.contains("=?") { #expect(line.utf8.count <= 76, "\(line)", sourceLocation: sourceLocation) }
        }
        for line in all[blank...] {
            #expect(line.utf8.count <= 76, "body line of \(line.utf8.count): \(line.prefix(80))", sourceLocation: sourceLocation)
        }
    }

    static func headerBlock(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        return String(text[..<text.range(of: "\r\n\r\n")!.lowerBound])
    }

    @Test(arguments: [
        (#"{"to":"a@example.com","subject":"s","text":"t"}"#, "text/plain"),
        (#"{"to":"a@example.com","subject":"s","html":"<p>t</p>"}"#, "text/html"),
        (#"{"to":"a@example.com","subject":"s","text":"t","html":"<p>t</p>"}"#, "multipart/alternative"),
        (#"{"to":"a@example.com","subject":"s","text":"t","attachments":[{"filename":"a.bin","contentType":"application/octet-stream","contentBase64":"AAE="}]}"#, "multipart/mixed"),
        (#"{"to":"a@example.com","subject":"s","text":"t","html":"h","attachments":[{"filename":"a.bin","contentType":"application/octet-stream","contentBase64":"AAE="}]}"#, "multipart/mixed"),
    ])
    func topLevelContentType(json: String, type: String) throws {
        let rendered = try Self.message(json).rendered()
        let headers = Self.headerBlock(rendered)
        #expect(headers.contains("\r\nContent-Type: \(type);"))
        #expect(headers.contains("\r\nMIME-Version: 1.0"))
        #expect(headers.hasPrefix("Date: "))
        #expect(headers.contains("\r\nMessage-ID: <"))
        #expect(headers.contains("\r\nFrom: Conveyor <noreply@example.com>"))
        Self.expectWellFormed(rendered)
    }

    @Test func aHeavyMessageKeepsEveryLineShort() throws {
        let names = (0..<50).map { #"{"email":"user\#($0)@example.com","name":"Zoë Ünïcødé-Ñame \#($0) 日本語"}"# }.joined(separator: ",")
        let subject = String(repeating: "Grüße aus Köln, ", count: 30) + "end"
        let longASCII = String(repeating: "word ", count: 180) + String(repeating: "x", count: 60)
        let json = #"""
        {"to":[\#(names)],"cc":["Lovelace, Ada <ada@example.com>"],"replyTo":"Ré Ply <r@example.com>","subject":"\#(subject)",
         "text":"\#(String(repeating: "a", count: 5000))\nline two","html":"<p>\#(String(repeating: "é", count: 3000))</p>",
         "headers":{"X-Long":"\#(longASCII)","X-Utf":"\#(subject)"},
         "attachments":[{"filename":"\#(String(repeating: "résumé-", count: 25)).pdf","contentType":"application/pdf","contentBase64":"\#(Data(count: 100_000).base64EncodedString())"}]}
        """#
        let rendered = try Self.message(json).rendered()
        Self.expectWellFormed(rendered)
        #expect(Self.headerBlock(rendered).contains("\r\n X-Long") == false, "no header starts inside another")
    }

    @Test func boundariesCannotAppearInContent() throws {
        let first = try Self.message(#"{"to":"a@example.com","subject":"s","text":"x","html":"y"}"#).rendered()
        let boundary = try #require(Self.headerBlock(first).split(separator: "boundary=\"").last?.split(separator: "\"").first)
        #expect(boundary.hasPrefix("=_"))
        // A body quoting a boundary verbatim: quoted-printable turns its "=" into "=3D".
        let body = "--\(boundary)\\n--\(boundary)--"
        let rendered = try Self.message(#"{"to":"a@example.com","subject":"s","text":"\#(body)","html":"\#(body)"}"#).rendered()
        let text = String(decoding: rendered, as: UTF8.self)
        let delimiters = Self.lines(rendered).filter { $0.hasPrefix("--=_") }
        #expect(delimiters.count == 3, "two part delimiters and the closing one: \(delimiters)")
        #expect(text.contains("--=3D_"))
        let second = try #require(Self.headerBlock(rendered).split(separator: "boundary=\"").last?.split(separator: "\"").first)
        #expect(second != boundary, "every message gets a fresh boundary")
    }

    @Test func foldedHeadersUnfoldToTheSameWords() throws {
        let to = (0..<20).map { "\"user\($0)@example.com\"" }.joined(separator: ",")
        let subject = (0..<40).map { "w\($0)" }.joined(separator: " ")
        let rendered = try Self.message(#"{"to":[\#(to)],"subject":"\#(subject)","text":"t"}"#).rendered()
        let unfolded = Self.headerBlock(rendered).replacingOccurrences(of: "\r\n ", with: " ")
        #expect(unfolded.contains("\r\nSubject: \(subject)\r\n"))
        #expect(unfolded.contains("\r\nTo: " + (0..<20).map { "user\($0)@example.com" }.joined(separator: ", ") + "\r\n"))
        #expect(Self.lines(rendered).allSatisfy { $0.utf8.count <= 76 })
    }

    @Test func injectionAttemptsNeverReachTheRenderer() {
        for (json, _) in ValidationTests.injectionAttempts {
            #expect(throws: MailError.self) { try Self.message(json) }
        }
    }
}
