import FoundationEssentials
import JobQueue

/// Validation shared by the operator functions: every failure is a 422 naming the field.
enum AdminInput {
    static func jobId(_ invocation: Invocation) throws -> Int64 {
        guard let text = invocation.pathParams["id"], let id = Int64(text), id > 0 else {
            throw APIError(.notFound, "no such job")
        }
        return id
    }

    static func queue(_ value: String?, field: String) throws -> String? {
        guard let value else { return nil }
        guard JobRequest.isValidQueueName(value) else {
            throw APIError(.invalidInput, "\(field): is not a valid queue name", details: ["field": .string(field)])
        }
        return value
    }

    static func kind(_ value: String?) throws -> String? {
        guard let value else { return nil }
        guard (1...200).contains(value.utf8.count), !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw APIError(.invalidInput, "kind: must be 1 to 200 characters with no control characters", details: ["field": "kind"])
        }
        return value
    }

    static func whole(_ value: String?, field: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value else { return nil }
        guard let n = Int(value), range.contains(n) else {
            throw APIError(.invalidInput, "\(field): must be a whole number from \(range.lowerBound) to \(range.upperBound)", details: ["field": .string(field)])
        }
        return n
    }

    static func string(field: String) -> (JSONValue) throws -> String {
        { value in
            guard let s = value.stringValue else {
                throw APIError(.invalidInput, "\(field): must be a string", details: ["field": .string(field)])
            }
            return s
        }
    }

    /// The body as a JSON object (an empty body is `{}`); unknown fields are a 422, so a typo
    /// never silently widens a bulk action.
    static func object(_ request: HTTPRequest, allowed: Set<String>) throws -> [String: JSONValue] {
        if request.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        guard let object = try BodyDecoder.parse(request).objectValue else {
            throw APIError(.invalidInput, "the body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError(.invalidInput, "\(unknown): is not a field here; use \(allowed.sorted().joined(separator: ", "))",
                           details: ["field": .string(unknown)])
        }
        return object
    }
}
