import FoundationEssentials
import JobQueue
import Logging
import Postgres
import Routing

extension IntakeService {
    /// Routes one request of the org: NEW → ROUTING, then ASSIGNED at or above the threshold,
    /// or left in ROUTING for manual review with its suggestions. Writes AI_ROUTE.
    ///
    /// The LLM decides when a key is set, the offline router otherwise. When the LLM fails
    /// (timeout, 429, 5xx, a bad reply):
    /// - as a job with attempts left, the request goes back to NEW with the reason, AI_ROUTE_FAILED
    ///   is logged, and `JobFailure` asks for a retry (after Retry-After, for a 429);
    /// - directly, on a job's last attempt, or when retrying cannot help (a 401), the offline router
    ///   decides and never auto-assigns, so no request is left unrouted.
    public func route(requestId: Int64, orgId: Int64, attempt: RoutingAttempt) throws -> RoutingOutcome {
        let clock = ContinuousClock()
        let started = clock.now
        let requests = requestStore
        guard let request = try requests.beginRouting(id: requestId, orgId: orgId) else {
            guard let current = try requests.request(id: requestId, orgId: orgId) else { throw IntakeError(.notFound, "no such intake request") }
            return .notRoutable(current)
        }
        let pipelines = try pipelineStore.pipelines(orgId: orgId, includeInactive: false).map(\.profile)
        let offline = { RoutingDecision(offline: OfflineRouter(pipelines: pipelines).route(IntakeText(title: request.title, description: request.description)),
                                        pipelines: pipelines) }
        var decision: RoutingDecision
        var fallbackReason: String?
        if let client = llmClient, !pipelines.isEmpty {
            do {
                decision = try llmDecision(request: request, pipelines: pipelines, client: client)
            } catch let failure as LLMFailure {
                let ms = Self.milliseconds(clock.now - started)
                if case .job(let n, let isLast) = attempt, !isLast, failure.isRetryable {
                    try retryLater(request: request, failure: failure, attempt: n, model: client.settings.model, ms: ms, orgId: orgId)
                }
                logger.warning("LLM routing failed; the offline router decides without auto-assigning", metadata: [
                    "requestId": "\(requestId)", "failure": "\(failure.kind.rawValue)", "reason": "\(failure.message)",
                ])
                decision = offline()
                fallbackReason = failure.message
            }
        } else {
            // Without pipelines there is nothing to ask an LLM about.
            decision = offline()
        }
        let autoAssigned = fallbackReason == nil && decision.primary != nil && decision.confidence >= settings.autoAssignThreshold
        let ms = Self.milliseconds(clock.now - started)
        return try connection.transaction { c in
            guard let routed = try IntakeRequestStore(connection: c).applyRouting(
                id: requestId, orgId: orgId, assignTo: autoAssigned ? decision.primary?.pipelineId : nil,
                analysis: decision.analysisJSON, confidence: decision.confidence, reasoning: decision.reasoning,
                suggestions: .array(decision.suggestions.map(\.json)), error: fallbackReason) else {
                // Assigned (or rejected) by hand while the router was thinking: that decision stands.
                guard let current = try IntakeRequestStore(connection: c).request(id: requestId, orgId: orgId) else {
                    throw IntakeError(.notFound, "no such intake request")
                }
                return .notRoutable(current)
            }
            var metadata: [String: JSONValue] = [
                "router": .string(decision.router.rawValue),
                "model": decision.model.map(JSONValue.string) ?? .null,
                "confidence": .double(decision.confidence),
                "autoAssigned": .bool(autoAssigned),
                "threshold": .double(settings.autoAssignThreshold),
                "pipelineId": decision.primary.map { .int($0.pipelineId) } ?? .null,
                "alternatives": .array(decision.alternatives.map { .int($0.pipelineId) }),
                "processingTime": .int(Int64(ms)),
                "usage": decision.usage?.json ?? .null,
                "attempt": Self.attemptNumber(attempt),
            ]
            if let fallbackReason { metadata["fallbackReason"] = .string(fallbackReason) }
            if !decision.droppedPipelineIds.isEmpty { metadata["droppedPipelineIds"] = .array(decision.droppedPipelineIds.map(JSONValue.int)) }
            try ActivityLog(connection: c).record(.aiRoute, entity: ActivityLog.intakeRequest, entityId: requestId, metadata: metadata, orgId: orgId)
            return .routed(RoutingResult(request: routed, decision: decision, autoAssigned: autoAssigned,
                                         threshold: settings.autoAssignThreshold, fallbackReason: fallbackReason, processingTimeMs: ms))
        }
    }

    func llmDecision(request: IntakeRequest, pipelines: [PipelineProfile], client: LLMClient) throws -> RoutingDecision {
        let completion = try client.complete(system: RoutingPrompt.system, user: try RoutingPrompt.user(request: request, pipelines: pipelines))
        let reply = try LLMReply.validate(completion.content, pipelines: pipelines)
        return RoutingDecision(router: .llm, primary: reply.primary, alternatives: reply.alternatives,
                               confidence: reply.primary?.confidence ?? 0,
                               reasoning: reply.primary?.reasoning ?? "The LLM found no pipeline that fits.",
                               analysis: reply.analysis, model: completion.model ?? client.settings.model,
                               usage: completion.usage, droppedPipelineIds: reply.droppedPipelineIds)
    }

    /// Puts the request back to NEW with the reason, logs the failed attempt, and throws the
    /// `JobFailure` that makes the engine retry (no earlier than a 429's Retry-After).
    func retryLater(request: IntakeRequest, failure: LLMFailure, attempt: Int, model: String, ms: Int, orgId: Int64) throws -> Never {
        try connection.transaction { c in
            try IntakeRequestStore(connection: c).returnToNew(id: request.id, orgId: orgId, reason: failure.message)
            var metadata: [String: JSONValue] = [
                "router": "llm", "model": .string(model), "attempt": .int(Int64(attempt)),
                "failure": .string(failure.kind.rawValue), "reason": .string(failure.message),
                "processingTime": .int(Int64(ms)),
            ]
            if let status = failure.status { metadata["httpStatus"] = .int(Int64(status)) }
            if let after = failure.retryAfterSeconds { metadata["retryAfterSeconds"] = .double(after) }
            try ActivityLog(connection: c).record(.aiRouteFailed, entity: ActivityLog.intakeRequest, entityId: request.id,
                                                  metadata: metadata, orgId: orgId)
        }
        logger.warning("LLM routing attempt failed; the job will retry", metadata: [
            "requestId": "\(request.id)", "attempt": "\(attempt)", "failure": "\(failure.kind.rawValue)", "reason": "\(failure.message)",
        ])
        throw JobFailure("LLM routing failed: \(failure.message)", retryable: true, retryAfterSeconds: failure.retryAfterSeconds)
    }

    static func attemptNumber(_ attempt: RoutingAttempt) -> JSONValue {
        if case .job(let n, _) = attempt { return .int(Int64(n)) }
        return .null
    }

    static func milliseconds(_ d: Duration) -> Int {
        let (seconds, attoseconds) = d.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
