import FoundationEssentials
import JobQueue

/// Decodes request bodies, turning decoder failures into the envelope: malformed JSON is 400,
/// a well-formed body of the wrong shape is 422 naming the field.
enum BodyDecoder {
    /// The most keys one object of a request body may have: far above any function's fields or a
    /// sane payload, far below what makes parsing a body slow.
    static let maxObjectMembers = 10_000

    /// `allowed`, when given, lists the body's fields: any other is a 422 naming it, so a typo
    /// (or a field the function does not take, such as a secret) is never silently ignored.
    static func decode<T: Decodable>(_ type: T.Type, from request: HTTPRequest, emptyMeans empty: String? = nil,
                                     allowed: Set<String>? = nil) throws -> T {
        var body = request.body
        if body.isEmpty || body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard let empty else { throw APIError(.invalidJSON, "the request body is empty; send a JSON object") }
            body = Data(empty.utf8)
        }
        try checkContentType(request)
        // Foundation lets duplicate keys through (last one wins) and accepts some input the strict
        // parser refuses: check the syntax strictly first, so every function answers bad JSON alike.
        do {
            let parsed = try JSONParser.parse(body, maxMembers: maxObjectMembers)
            if let allowed, let unknown = parsed.objectValue?.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw APIError(.invalidInput, "\(unknown.prefix(64)): is not a field here; use \(allowed.sorted().joined(separator: ", "))",
                               details: ["field": .string(String(unknown.prefix(64)))])
            }
        } catch let e as JSONParser.SyntaxError {
            throw APIError(.invalidJSON, "the request body is not valid JSON: \(e.description)", details: ["offset": .int(Int64(e.offset))])
        }
        do {
            return try JSONDecoder.conveyor.decode(T.self, from: body)
        } catch let error as DecodingError {
            throw translate(error)
        }
    }

    static func translate(_ error: DecodingError) -> APIError {
        switch error {
        case .dataCorrupted(let ctx) where ctx.codingPath.isEmpty:
            return APIError(.invalidJSON, "the request body is not valid JSON")
        case .dataCorrupted(let ctx):
            return invalid(ctx.codingPath, ctx.debugDescription)
        case .typeMismatch(let type, let ctx):
            return invalid(ctx.codingPath, "must be \(describe(type))")
        case .valueNotFound(let type, let ctx):
            return invalid(ctx.codingPath, "must be \(describe(type)), not null")
        case .keyNotFound(let key, let ctx):
            return invalid(ctx.codingPath + [key], "is required")
        @unknown default:
            return APIError(.invalidInput, "the request body does not have the expected shape")
        }
    }

    static func invalid(_ path: [any CodingKey], _ message: String) -> APIError {
        let field = fieldPath(path)
        if field.isEmpty { return APIError(.invalidInput, "the body \(message)") }
        return APIError(.invalidInput, "\(field): \(message)", details: ["field": .string(field)])
    }

    /// `jobs[3].priority` from a coding path.
    static func fieldPath(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue {
                out += "[\(i)]"
            } else {
                if !out.isEmpty { out += "." }
                out += key.stringValue
            }
        }
        return out
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is Date.Type: return "an RFC 3339 timestamp"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            return "a JSON object"
        }
    }
}

extension BodyDecoder {
    /// Parses a body strictly into a JSON tree: malformed JSON (including invalid UTF-8, duplicate
    /// keys and absurd nesting) is a 400 that says where.
    static func parse(_ request: HTTPRequest) throws -> JSONValue {
        if request.body.isEmpty { throw APIError(.invalidJSON, "the request body is empty; send a JSON object") }
        try checkContentType(request)
        do {
            return try JSONParser.parse(request.body, maxMembers: maxObjectMembers)
        } catch let e as JSONParser.SyntaxError {
            throw APIError(.invalidJSON, "the request body is not valid JSON: \(e.description)", details: ["offset": .int(Int64(e.offset))])
        }
    }

    static func checkContentType(_ request: HTTPRequest) throws {
        if let type = request.header("content-type")?.lowercased(),
           !(type.hasPrefix("application/json") || type.hasPrefix("application/") && type.contains("+json")) {
            throw APIError(.unsupportedMediaType, "send the body as application/json", details: ["contentType": .string(String(type.prefix(100)))])
        }
    }
}

extension KeyedDecodingContainer {
    /// Decodes an integer field, reporting `1.5` as a type mismatch *at that field*.
    ///
    /// Foundation reports a fractional number for an `Int` as corrupted data with no coding path,
    /// which would make a client's typo look like malformed JSON (400) with no field named.
    func decodeWholeNumberIfPresent(forKey key: Key) throws -> Int? {
        do {
            return try decodeIfPresent(Int.self, forKey: key)
        } catch {
            if (try? decodeIfPresent(Double.self, forKey: key)) != nil {
                throw DecodingError.typeMismatch(Int.self, .init(codingPath: codingPath + [key], debugDescription: "must be a whole number"))
            }
            throw error
        }
    }
}
