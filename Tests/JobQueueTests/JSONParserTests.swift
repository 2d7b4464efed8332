import Foundation
import JobQueue
import Testing

struct JSONParserTests {
    @Test(arguments: [
        ("null", JSONValue.null),
        ("true", .bool(true)),
        (" false ", .bool(false)),
        ("0", .int(0)),
        ("-12", .int(-12)),
        ("9223372036854775807", .int(Int64.max)),
        ("9223372036854775808", .double(9223372036854775808)),
        ("1.5", .double(1.5)),
        ("-2e3", .double(-2000)),
        ("1E-2", .double(0.01)),
        (#""""#, .string("")),
        (#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#, .string("a\"b\\c/d\n\té😀")),
        (#""wörld 日本""#, .string("wörld 日本")),
        ("[]", .array([])),
        ("[1,[2,[3]]]", .array([.int(1), .array([.int(2), .array([.int(3)])])])),
        (#"{"a":{"b":null},"c":[]}"#, .object(["a": .object(["b": .null]), "c": .array([])])),
    ])
    func parses(text: String, value: JSONValue) throws {
        #expect(try JSONValue.parse(text) == value)
    }

    @Test(arguments: [
        "", " ", "nul", "tru", "01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity", "1e400",
        "[1,]", "[1 2]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "\"unterminated", "\"tab\there\"",
        "\"\\x\"", "\"\\ud800\"", "\"\\udc00x\"", "\"\\u12\"", "[1]]", "{} {}", "// c\n1",
        "{\"a\":1,\"a\":2}",
    ])
    func rejects(text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONValue.parse(text) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }
    }

    /// 10,000 levels would overflow a recursive parser's stack; the depth limit stops it first.
    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONValue.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONValue.parse(ok) }
    }

    @Test func roundTripsThroughText() throws {
        let text = #"{"a":[1,2.5,"x\"y",null,true],"b":{"c":"é/😀\n"}}"#
        let value = try JSONValue.parse(text)
        #expect(try JSONValue.parse(value.jsonText) == value)
        #expect(value.jsonText.contains("é/😀"))
    }
}
