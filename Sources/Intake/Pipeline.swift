import FoundationEssentials
import JobQueue
import Postgres
import Routing

/// One of an organization's pipelines: a destination intake requests are routed to.
public struct Pipeline: Sendable, Equatable, Encodable {
    public var id: Int64
    public var name: String
    public var description: String
    public var keywords: [String]
    public var isActive: Bool
    public var createdAt: Date
    public var updatedAt: Date

    static let columns: SQL = "id, name, description, keywords, is_active, created_at, updated_at"

    init(row: Row) throws {
        id = try row.decode("id")
        name = try row.decode("name")
        description = try row.decode("description")
        keywords = try row.decode("keywords")
        isActive = try row.decode("is_active")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
    }

    /// What the routers match requests against.
    public var profile: PipelineProfile {
        PipelineProfile(id: id, name: name, description: description, keywords: keywords)
    }
}

/// An upsert of a pipeline, validated. With `id` it updates that pipeline; without, it creates
/// the pipeline or updates the one of the same name. Fields left nil keep their stored values.
public struct PipelineInput: Sendable, Equatable {
    public var id: Int64?
    public var name: String?
    public var description: String?
    public var keywords: [String]?
    public var isActive: Bool?

    public static let fields = ["id", "name", "description", "keywords", "isActive"]
    public static let maxNameLength = 100
    public static let maxDescriptionLength = 2000
    public static let maxKeywords = 50
    public static let maxKeywordLength = 100

    /// Validates the fields; `name` is required unless `id` names an existing pipeline.
    public init(id: Int64? = nil, name: String? = nil, description: String? = nil, keywords: [String]? = nil, isActive: Bool? = nil) throws {
        if let id, id <= 0 { throw IntakeError.invalid("id", "must be a positive pipeline id") }
        self.id = id
        if let name {
            let trimmed = name.trimmingWhitespace
            guard (1...Self.maxNameLength).contains(trimmed.unicodeScalars.count), !trimmed.hasControlCharacters else {
                throw IntakeError.invalid("name", "must be 1 to \(Self.maxNameLength) characters with no control characters")
            }
            self.name = trimmed
        } else if id == nil {
            throw IntakeError.invalid("name", "is required when no id is given")
        }
        if let description {
            guard description.unicodeScalars.count <= Self.maxDescriptionLength, !description.utf8.contains(0) else {
                throw IntakeError.invalid("description", "must be at most \(Self.maxDescriptionLength) characters, with no NUL")
            }
            self.description = description
        }
        if let keywords {
            guard keywords.count <= Self.maxKeywords else {
                throw IntakeError.invalid("keywords", "must hold at most \(Self.maxKeywords) keywords")
            }
            var seen = Set<String>()
            var kept: [String] = []
            for (i, keyword) in keywords.enumerated() {
                let k = keyword.trimmingWhitespace
                guard (1...Self.maxKeywordLength).contains(k.unicodeScalars.count), !k.hasControlCharacters else {
                    throw IntakeError.invalid("keywords[\(i)]", "must be 1 to \(Self.maxKeywordLength) characters with no control characters")
                }
                if seen.insert(k.lowercased()).inserted { kept.append(k) }
            }
            self.keywords = kept
        }
        self.isActive = isActive
    }

    /// Reads an upsert body, refusing unknown fields and wrong types by name.
    public init(json: JSONValue) throws {
        let o = try JSONFields(json, allowed: Self.fields)
        try self.init(id: o.int64("id"), name: o.string("name"), description: o.string("description"),
                      keywords: o.strings("keywords"), isActive: o.bool("isActive"))
    }
}
