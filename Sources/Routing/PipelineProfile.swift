/// What the router knows about one of an organization's pipelines: the text it matches
/// intake requests against. Callers pass only the org's active pipelines.
public struct PipelineProfile: Sendable, Equatable {
    /// The pipeline's id; the router returns it unchanged and never invents others.
    public var id: Int64
    /// The pipeline's name, e.g. "Billing".
    public var name: String
    /// A free-text description of what the pipeline handles.
    public var description: String
    /// Optional keywords or phrases that should steer requests here.
    public var keywords: [String]

    /// Creates a profile.
    public init(id: Int64, name: String, description: String, keywords: [String] = []) {
        self.id = id
        self.name = name
        self.description = description
        self.keywords = keywords
    }
}
