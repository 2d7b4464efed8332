import Handlers
import JobQueue

/// The team's job: works out a thumbnail's size for an image (a real one would fetch and
/// scale it), reports progress, and fails for good on a width it can never honour.
public struct ResizeImage: JobFunction {
    public struct Payload: Decodable, Sendable {
        public var url: String
        public var width: Int
        public var height: Int
        public var maxSide: Int
    }

    public struct Output: Encodable, Sendable {
        public var url: String
        public var width: Int
        public var height: Int
    }

    public let name = "resize-image"

    public init() {}

    public func run(_ payload: Payload, job: JobContext) async throws -> Output {
        guard payload.width > 0, payload.height > 0, payload.maxSide > 0 else {
            throw JobFailure("width, height and maxSide must be positive", retryable: false)
        }
        try job.reportProgress(50, message: "scaling")
        let scale = Double(payload.maxSide) / Double(max(payload.width, payload.height))
        let factor = min(1, scale)
        return Output(url: payload.url + "?thumb=\(payload.maxSide)",
                      width: Int((Double(payload.width) * factor).rounded()),
                      height: Int((Double(payload.height) * factor).rounded()))
    }
}
