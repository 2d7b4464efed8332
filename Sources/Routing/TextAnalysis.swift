/// What the router read from a request besides the pipeline match: its type, urgency,
/// complexity and the terms it was routed on.
public struct TextAnalysis: Sendable, Equatable {
    /// One of "bug_report", "feature_request", "question", "incident", "billing",
    /// "access_request" or "other".
    public var requestType: String
    /// One of "low", "medium", "high" or "critical".
    public var urgency: String
    /// One of "low", "medium" or "high".
    public var complexity: String
    /// The request's distinctive terms, most important first.
    public var keywords: [String]
    /// Things the request names: emails, ids, amounts, versions, URLs, capitalized names.
    public var entities: [String]

    /// Creates an analysis.
    public init(requestType: String, urgency: String, complexity: String, keywords: [String], entities: [String]) {
        self.requestType = requestType
        self.urgency = urgency
        self.complexity = complexity
        self.keywords = keywords
        self.entities = entities
    }
}
