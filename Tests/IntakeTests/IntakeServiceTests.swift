import Foundation
import Intake
import JobQueue
import Postgres
import Testing

/// The routing flow against the real database. The LLM cases here need no server: a refused
/// port is a retryable failure, a malformed URL one that retrying cannot fix. Scripted LLM
/// replies are tested through the functions in HandlersTests/IntakeFunctionTests.
struct IntakeServiceTests {
    /// Port 1 on loopback: nothing listens, so connecting is refused at once.
    static let unreachable = LLMSettings(apiKey: "sk-unreachable-4444", baseURL: "http://127.0.0.1:1/v1", timeoutSeconds: 5)

    func newRequest(_ t: IntakeTestDatabase, _ title: String = "Refund for a duplicate invoice charge", priority: Int = 1) throws -> IntakeRequest {
        try t.service().create(try NewIntakeRequest(title: title, description: "I was charged twice for invoice INV-7.", source: "EMAIL", priority: priority), orgId: t.orgId)
    }

    func row(_ t: IntakeTestDatabase, _ id: Int64) throws -> IntakeRequest {
        try #require(try IntakeRequestStore(connection: t.db).request(id: id, orgId: t.orgId))
    }

    @Test func withoutPipelinesTheRequestWaitsForReview() throws {
        let t = try IntakeTestDatabase()
        let request = try newRequest(t)
        guard case .routed(let result) = try t.service(threshold: 0).route(requestId: request.id, orgId: t.orgId, attempt: .direct) else {
            Issue.record("not routed")
            return
        }
        #expect(result.decision.router == .offline && result.decision.primary == nil && !result.autoAssigned)
        #expect(try row(t, request.id).status == .routing)
        #expect(try row(t, request.id).suggestedPipelines == .array([]))
        #expect(try t.actions(request.id) == ["AI_ROUTE"])
    }

    @Test func offlineRoutingAppliesTheThresholdToItsOwnConfidence() throws {
        let t = try IntakeTestDatabase()
        let billing = try t.pipeline("Billing", "Invoices, refunds, payments and charges", keywords: ["invoice", "refund", "charge"])
        let support = try t.pipeline("Technical Support", "Bugs, errors, outages and login problems", keywords: ["bug", "error", "login"])
        for threshold in [0.0, 0.7, 1.0] {
            let request = try newRequest(t)
            guard case .routed(let r) = try t.service(threshold: threshold).route(requestId: request.id, orgId: t.orgId, attempt: .direct) else {
                Issue.record("not routed")
                continue
            }
            let stored = try row(t, request.id)
            #expect(r.autoAssigned == (r.decision.primary != nil && r.decision.confidence >= threshold))
            #expect(stored.status == (r.autoAssigned ? .assigned : .routing))
            #expect(stored.assignedPipelineId == (r.autoAssigned ? r.decision.primary?.pipelineId : nil))
            #expect(stored.routingConfidence == r.decision.confidence)
            for s in r.decision.suggestions { #expect([billing.id, support.id].contains(s.pipelineId)) }
            #expect(stored.aiAnalysis?["router"] == "offline")
        }
    }

    @Test func aFailedLLMAttemptGoesBackToNewThenTheLastFallsBackOffline() throws {
        let t = try IntakeTestDatabase()
        try t.pipeline("Billing", "Invoices and refunds", keywords: ["invoice", "refund"])
        let request = try newRequest(t)
        let service = t.service(llm: Self.unreachable, threshold: 0)
        do {
            _ = try service.route(requestId: request.id, orgId: t.orgId, attempt: .job(attempt: 1, isLast: false))
            Issue.record("the first attempt did not ask for a retry")
        } catch let failure as JobFailure {
            #expect(failure.retryable)
            #expect(failure.message.contains("could not be reached"))
        }
        var stored = try row(t, request.id)
        #expect(stored.status == .new)
        #expect(stored.routingError?.contains("could not be reached") == true)
        #expect(try t.actions(request.id) == ["AI_ROUTE_FAILED"])

        guard case .routed(let r) = try service.route(requestId: request.id, orgId: t.orgId, attempt: .job(attempt: 2, isLast: true)) else {
            Issue.record("not routed")
            return
        }
        stored = try row(t, request.id)
        // Threshold 0 would assign anything: a fallback never does.
        #expect(!r.autoAssigned && r.decision.router == .offline && r.fallbackReason != nil)
        #expect(stored.status == .routing && stored.assignedPipelineId == nil)
        #expect(stored.routingError == r.fallbackReason)
        let log = try ActivityLog(connection: t.db).entries(entity: ActivityLog.intakeRequest, entityId: request.id, orgId: t.orgId)
        #expect(log.map(\.action) == ["AI_ROUTE_FAILED", "AI_ROUTE"])
        #expect(log[1].metadata["router"] == "offline")
        #expect(log[1].metadata["autoAssigned"] == .bool(false))
        #expect(log[1].metadata["attempt"] == 2)
        #expect(log[1].metadata["fallbackReason"]?.stringValue?.contains("could not be reached") == true)
        for entry in log { #expect(!entry.metadata.jsonText.contains(Self.unreachable.apiKey)) }
    }

    @Test func aFailureRetryingCannotFixFallsBackOnTheFirstAttempt() throws {
        let t = try IntakeTestDatabase()
        try t.pipeline("Billing", "Invoices and refunds")
        let request = try newRequest(t)
        var broken = Self.unreachable
        broken.baseURL = "http://127.0.0.1:1/has space"
        guard case .routed(let r) = try t.service(llm: broken).route(requestId: request.id, orgId: t.orgId, attempt: .job(attempt: 1, isLast: false)) else {
            Issue.record("not routed")
            return
        }
        #expect(r.decision.router == .offline && !r.autoAssigned && r.fallbackReason != nil)
        #expect(try row(t, request.id).status == .routing)
    }

    @Test func aRequestPastRoutingIsLeftAlone() throws {
        let t = try IntakeTestDatabase()
        let p = try t.pipeline("Billing")
        let request = try newRequest(t)
        _ = try t.service().assign(requestId: request.id, pipelineId: p.id, orgId: t.orgId)
        #expect(try t.service().route(requestId: request.id, orgId: t.orgId, attempt: .direct) == .notRoutable(try row(t, request.id)))
        #expect(throws: IntakeError.self) { try t.service().route(requestId: 9_999_999_999, orgId: t.orgId, attempt: .direct) }
    }

    @Test func manualAssignChecksOrgActivityAndStateAndLogs() throws {
        let t = try IntakeTestDatabase()
        let other = try IntakeTestDatabase.newOrg(t.db)
        let billing = try t.pipeline("Billing")
        let retired = try PipelineStore(connection: t.db).upsert(try PipelineInput(name: "Retired", isActive: false), orgId: t.orgId).pipeline
        let theirs = try t.pipeline("Theirs", orgId: other)
        let request = try newRequest(t)
        let service = t.service()

        #expect(throws: IntakeError(.notFound, "no such pipeline", field: "pipelineId")) {
            try service.assign(requestId: request.id, pipelineId: theirs.id, orgId: t.orgId)
        }
        #expect(throws: IntakeError(.notFound, "no such intake request")) {
            try service.assign(requestId: request.id, pipelineId: theirs.id, orgId: other)
        }
        #expect(throws: IntakeError.invalid("pipelineId", "the pipeline is inactive")) {
            try service.assign(requestId: request.id, pipelineId: retired.id, orgId: t.orgId)
        }
        #expect(try t.actions(request.id).isEmpty)

        let assigned = try service.assign(requestId: request.id, pipelineId: billing.id, orgId: t.orgId)
        #expect(assigned.status == .assigned && assigned.assignedPipelineId == billing.id)
        let log = try ActivityLog(connection: t.db).entries(entity: ActivityLog.intakeRequest, entityId: request.id, orgId: t.orgId)
        #expect(log.map(\.action) == ["MANUAL_ASSIGN"])
        #expect(log[0].metadata["pipelineId"] == .int(billing.id))
        #expect(log[0].metadata["previousStatus"] == "NEW")

        try t.db.execute("UPDATE intake_requests SET status = 'COMPLETED' WHERE id = \(request.id)")
        #expect(throws: IntakeError.self) { try service.assign(requestId: request.id, pipelineId: billing.id, orgId: t.orgId) }
    }

    @Test func deferStoresTheRequestAndItsJobTogetherOrNeither() throws {
        let t = try IntakeTestDatabase()
        let queue = "it-\(UUID().uuidString.prefix(8).lowercased())"
        let template = NewJob(kind: "route-intake", payloadJSON: "{}", queue: queue, maxAttempts: 2)
        let new = try NewIntakeRequest(title: "Urgent outage", source: "CHAT", priority: 3)
        let (request, job) = try t.service().createAndDefer(new, job: template, orgId: t.orgId)
        #expect(request.status == .new)
        let stored = try #require(try PostgresJobStore(connection: t.db).job(id: job.id, orgId: t.orgId))
        #expect(stored.payload == .object(["requestId": .int(request.id)]))
        #expect(stored.priority == 3 && stored.queue == queue && stored.kind == "route-intake" && stored.maxAttempts == 2)

        // A job the database refuses (no attempts allowed) takes its request down with it.
        let before = try IntakeRequestStore(connection: t.db).requests(orgId: t.orgId, filter: IntakeFilter()).requests.count
        var refused = template
        refused.maxAttempts = 0
        #expect(throws: PostgresError.self) { try t.service().createAndDefer(new, job: refused, orgId: t.orgId) }
        #expect(try IntakeRequestStore(connection: t.db).requests(orgId: t.orgId, filter: IntakeFilter()).requests.count == before)
    }
}
