import JobQueue
import Testing

/// Regression from the bad-input corpus: an object of 100,000 keys took a debug worker over a
/// second to parse. Request bodies now bound the keys of one object.
struct JSONParserMemberLimitTests {
    static func object(_ keys: Int) -> [UInt8] {
        Array(("{" + (0..<keys).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}").utf8)
    }

    @Test(arguments: [(keys: 0, limit: 0, ok: true), (keys: 3, limit: 3, ok: true), (keys: 4, limit: 3, ok: false),
                      (keys: 10_000, limit: 10_000, ok: true), (keys: 100_000, limit: 10_000, ok: false), (keys: 100_000, limit: Int.max, ok: true)])
    func membersPerObjectAreBounded(_ c: (keys: Int, limit: Int, ok: Bool)) throws {
        let result = Result { try JSONParser.parse(Self.object(c.keys), maxMembers: c.limit) }
        let parsed = (try? result.get()) != nil
        #expect(parsed == c.ok)
        if case .failure(let e as JSONParser.SyntaxError) = result {
            #expect(e.message.contains("more than \(c.limit) keys"))
        }
    }

    @Test func theBoundIsPerObjectNotPerDocument() throws {
        let inner = String(decoding: Self.object(3), as: UTF8.self)
        let doc = "[" + Array(repeating: inner, count: 5).joined(separator: ",") + "]"
        #expect(throws: Never.self) { try JSONParser.parse(Array(doc.utf8), maxMembers: 3) }
    }
}
