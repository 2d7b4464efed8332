/// Where an intake request is in its life. Routing moves it NEW → ROUTING → ASSIGNED, or leaves
/// it in ROUTING for manual review; the later states belong to the pipeline's own work.
public enum IntakeStatus: String, Sendable, Codable, CaseIterable {
    case new = "NEW"
    case routing = "ROUTING"
    case assigned = "ASSIGNED"
    case processing = "PROCESSING"
    case completed = "COMPLETED"
    case rejected = "REJECTED"

    /// States from which a request may be routed (again).
    public static let routable: [IntakeStatus] = [.new, .routing]
    /// States from which a request may be assigned by hand.
    public static let assignable: [IntakeStatus] = [.new, .routing, .assigned]
}

/// The channel an intake request came in through.
public enum IntakeSource: String, Sendable, Codable, CaseIterable {
    case form = "FORM"
    case email = "EMAIL"
    case chat = "CHAT"
    case api = "API"

    /// Reads a source, ignoring case (`email` is `EMAIL`).
    public init?(parsing text: String) {
        self.init(rawValue: text.uppercased())
    }
}
