import Foundation
import JobQueue
import Postgres
import Targets
import Testing

struct ProgressTokenTests {
    static func context(seconds: Double = 30) -> JobContext {
        JobContext.standalone(ClaimedJob(id: 42, orgId: 7, queue: "q", kind: "k", priority: 0, runAt: Date(), attempt: 3, maxAttempts: 5,
                                         payload: PostgresJSON(text: "{}")), seconds: seconds)
    }

    @Test func aTokenNamesItsAttemptAndDeadline() throws {
        let tokens = ProgressTokens(processorKey: "processor-key")
        let context = Self.context()
        let token = tokens.token(for: context)
        #expect(!token.contains("processor-key"))
        let claim = try #require(tokens.verify(token))
        #expect(claim.jobId == 42 && claim.attempt == 3 && claim.owner == context.owner)
        #expect(abs(claim.deadline.timeIntervalSinceNow - 30) < 2)
    }

    @Test func anyChangeOrAnotherKeyOrALateUseIsRefused() throws {
        let tokens = ProgressTokens(processorKey: "processor-key")
        let token = tokens.token(for: Self.context())
        var parts = token.split(separator: ".").map(String.init)
        parts[1] = "43"
        #expect(tokens.verify(parts.joined(separator: ".")) == nil, "another job")
        parts = token.split(separator: ".").map(String.init)
        parts[4] = String(Int64(parts[4])! + 60_000)
        #expect(tokens.verify(parts.joined(separator: ".")) == nil, "a later deadline")
        #expect(ProgressTokens(processorKey: "another-key").verify(token) == nil)
        #expect(tokens.verify(token, now: Date().addingTimeInterval(31)) == nil, "past the deadline")
        #expect(tokens.verify("") == nil && tokens.verify("cvp1.1.1.x.1.y") == nil && tokens.verify(String(repeating: "a", count: 300)) == nil)
    }
}
