import FoundationEssentials
import JobQueue
import Postgres

/// One intake request as stored, with its routing outcome.
public struct IntakeRequest: Sendable, Equatable {
    public var id: Int64
    public var title: String
    public var description: String
    public var source: IntakeSource
    public var status: IntakeStatus
    /// 0 (low) to 3 (urgent).
    public var priority: Int
    public var requestData: JSONValue
    public var assignedPipelineId: Int64?
    /// The analysis of the last routing: requestType, urgency, complexity, keywords, entities,
    /// and which router and model produced it.
    public var aiAnalysis: JSONValue?
    public var routingConfidence: Double?
    public var routingReasoning: String?
    /// The ranked candidates of the last routing, best first: `[{pipelineId, name, confidence, reasoning?}]`.
    public var suggestedPipelines: JSONValue?
    /// Why the last LLM attempt failed, when it did.
    public var routingError: String?
    public var aiProcessedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    static let columns: SQL = """
        id, title, description, source, status, priority, request_data, assigned_pipeline_id, ai_analysis, \
        routing_confidence, routing_reasoning, suggested_pipelines, routing_error, ai_processed_at, created_at, updated_at
        """

    init(row: Row) throws {
        id = try row.decode("id")
        title = try row.decode("title")
        description = try row.decode("description")
        let sourceText: String = try row.decode("source")
        let statusText: String = try row.decode("status")
        guard let source = IntakeSource(rawValue: sourceText), let status = IntakeStatus(rawValue: statusText) else {
            throw PostgresError(.decoding, message: "unknown intake source or status \(sourceText)/\(statusText)")
        }
        self.source = source
        self.status = status
        priority = try row.decode("priority")
        requestData = try Self.json(row, "request_data") ?? .object([:])
        assignedPipelineId = try row.decodeIfPresent("assigned_pipeline_id")
        aiAnalysis = try Self.json(row, "ai_analysis")
        routingConfidence = try row.decodeIfPresent("routing_confidence")
        routingReasoning = try row.decodeIfPresent("routing_reasoning")
        suggestedPipelines = try Self.json(row, "suggested_pipelines")
        routingError = try row.decodeIfPresent("routing_error")
        aiProcessedAt = try row.decodeIfPresent("ai_processed_at")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
    }

    /// A request not yet routed (for tests and prompts built without a row).
    init(id: Int64, title: String, description: String, source: IntakeSource, status: IntakeStatus, priority: Int,
         requestData: JSONValue, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.title = title
        self.description = description
        self.source = source
        self.status = status
        self.priority = priority
        self.requestData = requestData
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    static func json(_ row: Row, _ column: String) throws -> JSONValue? {
        guard let text = row.text(column) else { return nil }
        return try JSONValue.parse(text)
    }
}

extension IntakeRequest: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, title, description, source, status, priority, requestData, assignedPipelineId, aiAnalysis
        case routingConfidence, routingReasoning, suggestedPipelines, routingError, aiProcessedAt, createdAt, updatedAt
    }

    /// Absent values are written as null, so clients see every field of the shape.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(title, forKey: .title)
        try c.encode(description, forKey: .description)
        try c.encode(source, forKey: .source)
        try c.encode(status, forKey: .status)
        try c.encode(priority, forKey: .priority)
        try c.encode(requestData, forKey: .requestData)
        try c.encode(assignedPipelineId, forKey: .assignedPipelineId)
        try c.encode(aiAnalysis, forKey: .aiAnalysis)
        try c.encode(routingConfidence, forKey: .routingConfidence)
        try c.encode(routingReasoning, forKey: .routingReasoning)
        try c.encode(suggestedPipelines, forKey: .suggestedPipelines)
        try c.encode(routingError, forKey: .routingError)
        try c.encode(aiProcessedAt, forKey: .aiProcessedAt)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
    }
}

/// A new intake request, validated.
public struct NewIntakeRequest: Sendable, Equatable {
    public var title: String
    public var description: String
    public var source: IntakeSource
    public var priority: Int
    /// Always an object.
    public var requestData: JSONValue

    public static let maxTitleLength = 200
    public static let maxDescriptionLength = 10_000
    public static let maxRequestDataBytes = 16 * 1024
    public static let defaultPriority = 1

    /// Validates each field, naming the first that fails.
    public init(title: String?, description: String? = nil, source: String?, priority: Int? = nil, requestData: JSONValue? = nil) throws {
        guard let rawTitle = title else { throw IntakeError.invalid("title", "is required") }
        let title = rawTitle.trimmingWhitespace
        guard (1...Self.maxTitleLength).contains(title.unicodeScalars.count), !title.hasControlCharacters else {
            throw IntakeError.invalid("title", "must be 1 to \(Self.maxTitleLength) characters on one line")
        }
        let description = description ?? ""
        guard description.unicodeScalars.count <= Self.maxDescriptionLength, !description.utf8.contains(0) else {
            throw IntakeError.invalid("description", "must be at most \(Self.maxDescriptionLength) characters, with no NUL")
        }
        guard let sourceText = source else {
            throw IntakeError.invalid("source", "is required: one of \(IntakeSource.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let parsed = IntakeSource(parsing: sourceText) else {
            throw IntakeError.invalid("source", "must be one of \(IntakeSource.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let priority = priority ?? Self.defaultPriority
        guard (0...3).contains(priority) else { throw IntakeError.invalid("priority", "must be 0 (low) to 3 (urgent)") }
        let data = requestData ?? .object([:])
        guard case .object = data else { throw IntakeError.invalid("requestData", "must be a JSON object") }
        // jsonb cannot store U+0000: refuse it here, naming the field, rather than as a 500.
        guard !data.containsNUL else { throw IntakeError.invalid("requestData", "strings must not contain the NUL character") }
        let size = data.jsonText.utf8.count
        guard size <= Self.maxRequestDataBytes else {
            throw IntakeError.invalid("requestData", "is \(size) bytes; the limit is \(Self.maxRequestDataBytes)")
        }
        self.title = title
        self.description = description
        self.source = parsed
        self.priority = priority
        self.requestData = data
    }
}
