import FoundationEssentials
import Glibc
import JobQueue

/// `noop`, a diagnostic job kind: completes at once and echoes its payload as the result.
struct NoopFunction: ConveyorFunction {
    let name = "noop"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        // The payload is already valid JSON (it came out of jsonb), so it is echoed untouched.
        .json(200, raw: invocation.request.body.isEmpty ? Data("{}".utf8) : invocation.request.body)
    }
}

/// `fail`, a diagnostic job kind: fails `times` attempts (default 1) with `message`, then
/// succeeds. With `"permanent": true` a failure dead-letters the job at once.
struct FailFunction: ConveyorFunction {
    let name = "fail"

    struct Body: Decodable {
        var times: Int?
        var message: String?
        var permanent: Bool?
        var sleepMs: Int?
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let body = try BodyDecoder.decode(Body.self, from: invocation.request, emptyMeans: "{}")
        let attempt = invocation.job?.job.attempt ?? 1
        if let ms = body.sleepMs, ms > 0 { Self.sleep(milliseconds: min(ms, 60_000)) }
        if attempt <= (body.times ?? 1) {
            throw JobFailure(body.message ?? "diagnostic failure", retryable: !(body.permanent ?? false))
        }
        return try .json(200, ["succeededOnAttempt": attempt])
    }

    /// nanosleep, resumed after signals, so the whole time passes.
    static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
