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
        // Past Int64 and not exactly a double: kept as written, as jsonb keeps numeric.
        ("9223372036854775808", .number("9223372036854775808")),
        ("12345678901234567890", .number("12345678901234567890")),
        ("3.14159265358979323846264338327950288", .number("3.14159265358979323846264338327950288")),
        ("0.1000000000000000000001", .number("0.1000000000000000000001")),
        ("1e400", .number("1e400")),
        ("-1E-400", .number("-1E-400")),
        // Exactly a double, whatever the spelling: a double.
        ("1e20", .double(1e20)),
        ("100000000000000000000", .double(1e20)),
        ("0.10", .double(0.1)),
        ("-0.0", .double(-0.0)),
        ("1.7976931348623157e308", .double(.greatestFiniteMagnitude)),
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
        "", " ", "nul", "tru", "01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity",
        // Past what PostgreSQL's numeric stores.
        "1e131072", "1e-16384",
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

    /// A literal kept as text is written back digit for digit.
    @Test(arguments: ["12345678901234567890", "-98765432109876543210987654321", "3.14159265358979323846264338327950288",
                      "1e400", "2.5E-330", "1e131071", "1e-16383"])
    func longNumbersKeepEveryDigit(literal: String) throws {
        let value = try JSONValue.parse("{\"n\":\(literal)}")
        #expect(value.jsonText == "{\"n\":\(literal)}")
        #expect(value["n"]?.intValue == nil)
    }

    @Test func roundTripsThroughText() throws {
        let text = #"{"a":[1,2.5,"x\"y",null,true],"b":{"c":"é/😀\n"}}"#
        let value = try JSONValue.parse(text)
        #expect(try JSONValue.parse(value.jsonText) == value)
        #expect(value.jsonText.contains("é/😀"))
    }
}
