/// The text of one intake request, as the router sees it.
public struct IntakeText: Sendable, Equatable {
    /// The request's title or subject line.
    public var title: String
    /// The request's body; may be empty.
    public var description: String

    /// Creates an intake text.
    public init(title: String, description: String = "") {
        self.title = title
        self.description = description
    }
}
