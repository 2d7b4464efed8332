import FoundationEssentials
import Glibc
import JobQueue

/// `noop`, a diagnostic job kind: completes at once and echoes its payload as the result.
struct NoopFunction: AsyncJobFunction {
    let name = "noop"

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        // The payload is already valid JSON (it came out of jsonb), so it is echoed untouched.
        .json(200, raw: invocation.request.body.isEmpty ? Data("{}".utf8) : invocation.request.body)
    }

    func runJob(_ invocation: Invocation, context: FunctionContext) async throws -> HTTPResponse {
        try handle(invocation, context: context)
    }
}

/// `sleep`, a diagnostic job kind: waits `ms` milliseconds (default 0, at most 30 s, its limit)
/// without holding a thread, then completes with `{startedNs, sleptMs}`, where `startedNs` is
/// CLOCK_MONOTONIC when its code began: a benchmark compares it with the client's own clock.
struct SleepFunction: AsyncJobFunction {
    let name = "sleep"

    struct Body: Decodable {
        var ms: Int?
    }

    func handle(_ invocation: Invocation, context: FunctionContext) throws -> HTTPResponse {
        let started = Self.monotonicNanoseconds()
        let ms = try Self.milliseconds(invocation)
        FailFunction.sleep(milliseconds: ms, job: invocation.job)
        return try Self.answer(started: started, ms: ms)
    }

    func runJob(_ invocation: Invocation, context: FunctionContext) async throws -> HTTPResponse {
        let started = Self.monotonicNanoseconds()
        let ms = try Self.milliseconds(invocation)
        if ms > 0 { try await Task.sleep(nanoseconds: UInt64(ms) * 1_000_000) }
        return try Self.answer(started: started, ms: ms)
    }

    static func milliseconds(_ invocation: Invocation) throws -> Int {
        let body = try BodyDecoder.decode(Body.self, from: invocation.request, emptyMeans: "{}")
        guard let ms = body.ms else { return 0 }
        guard (0...30_000).contains(ms) else {
            throw APIError(.invalidInput, "ms: must be between 0 and 30000", details: ["field": "ms"])
        }
        return ms
    }

    static func answer(started: UInt64, ms: Int) throws -> HTTPResponse {
        .json(200, raw: Data("{\"startedNs\":\(started),\"sleptMs\":\(ms)}".utf8))
    }

    /// CLOCK_MONOTONIC, system-wide on Linux, so another process can compare it with its own.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// `fail`, a diagnostic job kind: fails `times` attempts (default 1) with `message`, then
/// succeeds. With `"permanent": true` a failure dead-letters the job at once. `sleepMs` makes
/// each attempt take that long (a blocking sleep, cut short at the attempt's deadline).
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
        if let ms = body.sleepMs, ms > 0 {
            guard Self.sleep(milliseconds: min(ms, 60_000), job: invocation.job) else {
                throw JobFailure("stopped at the attempt's deadline after sleeping part of \(ms) ms")
            }
        }
        if attempt <= (body.times ?? 1) {
            throw JobFailure(body.message ?? "diagnostic failure", retryable: !(body.permanent ?? false))
        }
        return try .json(200, ["succeededOnAttempt": attempt])
    }

    /// Sleeps in slices, as blocking work should: it stops at the attempt's deadline or when the
    /// attempt is cancelled. Returns false when it stopped early.
    @discardableResult
    static func sleep(milliseconds: Int, job: JobContext?) -> Bool {
        var left = Double(milliseconds) / 1000
        while left > 0 {
            if let job, job.isCancelled || job.remainingSeconds <= 0 { return false }
            let slice = min(left, 0.05, job.map { max($0.remainingSeconds, 0.001) } ?? left)
            var request = timespec(tv_sec: Int(slice), tv_nsec: Int((slice - Double(Int(slice))) * 1e9))
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
            left -= slice
        }
        return true
    }
}
