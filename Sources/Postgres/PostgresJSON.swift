import FoundationEssentials

/// jsonb/json as raw text, passed through untouched in both directions.
public struct PostgresJSON: PostgresEncodable, PostgresDecodable, Sendable, Equatable {
    /// The JSON document as text.
    public var text: String

    /// Wraps JSON text as is (no validation: the server validates on input).
    public init(text: String) {
        self.text = text
    }

    /// Encodes a value with `JSONEncoder` (slashes left unescaped).
    public init<T: Encodable>(encoding value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        do {
            text = String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw PostgresError(.encoding, message: "cannot encode \(T.self) as JSON: \(error)")
        }
    }

    /// Decodes the document with `JSONDecoder`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw PostgresError(.decoding, message: "cannot decode JSON as \(T.self): \(error)")
        }
    }

    public var postgresText: String { text }

    public init(postgresText: String) {
        text = postgresText
    }
}
