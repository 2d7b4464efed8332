@testable import JobQueue
import Testing

/// The check every job result passes before it is recorded: what jsonb takes, and nothing else.
struct JSONSyntaxTests {
    @Test(arguments: [
        #"{}"#, #"[]"#, #"null"#, #"true"#, #"false"#, #"0"#, #"-0.5e+10"#, #"1E3"#, #""text""#,
        #"{"to":"user@example.com","n":42}"#, #" [1, [2, {"a": [null]}], "\u00e9\n"] "#, #""\ud83d\ude00""#,
        #"{"a":{"b":{"c":[1,2,3]}}}"#, "\"é\"",
    ])
    func accepts(json: String) {
        #expect(JSONSyntax.problem(json) == nil, "\(json)")
    }

    @Test(arguments: [
        ("", "ends early"), ("{", "member name"), (#"{"a"}"#, "expected ':'"), (#"{"a":1,}"#, "member name"),
        (#"[1,]"#, "unexpected character"), (#"[1 2]"#, "expected ','"), ("tru", "ends early"), ("nul", "ends early"),
        ("truth", "unknown word"), ("trueish", "text after"), ("01", "text after"), ("1.", "bad number"), ("1e", "bad number"), ("-", "unexpected character"),
        (#""abc"#, "unterminated"), (#""\x""#, "bad escape"), (#""\u12""#, "\\u escape"), ("\"a\u{1}b\"", "control character"),
        (#""\u0000""#, "NUL"), ("\"a\u{0}b\"", "NUL"), (#"{} {}"#, "text after"), ("'a'", "unexpected character"),
    ])
    func refuses(json: String, reason: String) {
        let problem = JSONSyntax.problem(json)
        #expect(problem?.contains(reason) == true, "\(json): \(problem ?? "accepted")")
    }

    @Test func nestingIsBounded() {
        #expect(JSONSyntax.problem(String(repeating: "[", count: 600) + String(repeating: "]", count: 600))?.contains("deeper") == true)
        #expect(JSONSyntax.problem(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)) == nil)
    }
}
