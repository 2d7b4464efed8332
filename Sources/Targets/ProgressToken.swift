import Digest
import FoundationEssentials
import JobQueue

/// Tokens with which a target (the user's endpoint or program) reports a running attempt's
/// progress through `POST /v1/jobs/{id}/progress`, which also keeps the attempt's lease
/// alive, never past its deadline.
///
/// A token names one attempt (job, attempt number, the invocation holding it) and its deadline,
/// under an HMAC keyed from the processor key: `cvp1.<job>.<attempt>.<owner>.<deadline ms>.<mac>`.
/// It is worth nothing once the attempt has ended or its deadline has passed.
public struct ProgressTokens: Sendable {
    private let key: [UInt8]
    static let prefix = "cvp1"

    /// Keys derived from the processor key, so every host that runs process-batch can both
    /// issue and check them, and no token is the key itself.
    public init(processorKey: String) {
        key = HMAC.sha256(key: Array(processorKey.utf8), message: Array("conveyor progress tokens v1".utf8))
    }

    /// What a valid token says.
    public struct Claim: Sendable, Equatable {
        public var jobId: Int64
        public var attempt: Int
        public var owner: UUID
        public var deadline: Date
    }

    /// The token of the attempt `context` runs.
    public func token(for context: JobContext, now: Date = Date()) -> String {
        let deadline = Int64(((now.timeIntervalSince1970 + context.remainingSeconds) * 1000).rounded(.up))
        let body = "\(Self.prefix).\(context.job.id).\(context.job.attempt).\(context.owner.uuidString.lowercased()).\(deadline)"
        return body + "." + Self.base64URL(mac(body))
    }

    /// The claim of a genuine token whose deadline has not passed; nil for anything else.
    public func verify(_ token: String, now: Date = Date()) -> Claim? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 200, parts.count == 6, parts[0] == Self.prefix else { return nil }
        let body = parts[0..<5].joined(separator: ".")
        guard let presented = Self.decodeBase64URL(String(parts[5])), ConstantTime.equals(presented, mac(body)),
              let job = Int64(parts[1]), let attempt = Int(parts[2]), let owner = UUID(uuidString: String(parts[3])),
              let deadlineMs = Int64(parts[4]) else { return nil }
        let deadline = Date(timeIntervalSince1970: Double(deadlineMs) / 1000)
        guard deadline > now else { return nil }
        return Claim(jobId: job, attempt: attempt, owner: owner, deadline: deadline)
    }

    private func mac(_ body: String) -> [UInt8] { HMAC.sha256(key: key, message: Array(body.utf8)) }

    /// Base64 with the URL-safe alphabet and no padding: a token travels in headers and
    /// environment variables as it is.
    static func base64URL(_ bytes: [UInt8]) -> String {
        String(Data(bytes).base64EncodedString().compactMap { c -> Character? in
            c == "+" ? "-" : c == "/" ? "_" : c == "=" ? nil : c
        })
    }

    static func decodeBase64URL(_ text: String) -> [UInt8]? {
        var standard = String(text.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        standard += String(repeating: "=", count: (4 - standard.utf8.count % 4) % 4)
        return Data(base64Encoded: standard).map(Array.init)
    }
}
