import FoundationEssentials
import JobQueue

/// What a target gave back (an answer's body, a program's output) as a job's result: JSON
/// kept as JSON, anything else as a string, nothing as null, and past the cap
/// `{"truncated": true, "limitBytes": …, "body": "<the start>"}`.
enum ResultText {
    static func of(_ bytes: Data, truncated: Bool, limit: Int, status: Int?) -> String {
        if truncated {
            var out = "{\"truncated\":true,\"limitBytes\":\(limit)," + (status.map { "\"status\":\($0)," } ?? "") + "\"body\":"
            JSONValue.writeString(storable(bytes), to: &out)
            return out + "}"
        }
        if bytes.isEmpty { return "null" }
        if let json = try? JSONValue.parse(bytes), !json.containsNUL {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out = ""
        JSONValue.writeString(storable(bytes), to: &out)
        return out
    }

    /// Bytes as text PostgreSQL's jsonb takes: invalid UTF-8 and NUL become U+FFFD.
    static func storable(_ bytes: Data) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.utf8.contains(0) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value == 0 ? "\u{FFFD}" : $0 }))
    }
}
