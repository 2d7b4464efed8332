import FoundationEssentials

/// A function whose calls that arrive together can share one engine call.
///
/// A host that finds several complete requests waiting (a FastCGI worker polling the
/// connections it holds) hands them over at once; `enqueue` then stores them in one statement
/// and one commit instead of one each. Nothing waits for company: a lone request is answered
/// through `handle` as it comes.
public protocol BatchingFunction: ConveyorFunction {
    /// Answers each invocation as `handle` would, in order: one caller's error is its own.
    func handle(all invocations: [Invocation], context: FunctionContext) -> [Result<HTTPResponse, any Error>]
    /// Whether a request with this body would share work, judged cheaply before any parsing: a
    /// host waits for company, and answers shared requests first, only for these. A wrong
    /// "true" costs the others a little time; a wrong "false" only means answered alone.
    func mayShare(body: [UInt8]) -> Bool
}

extension BatchingFunction {
    public func mayShare(body: [UInt8]) -> Bool { true }
}
