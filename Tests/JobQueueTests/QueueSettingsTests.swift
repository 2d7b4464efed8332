import Foundation
import JobQueue
import Postgres
import Testing

/// Queue settings: validation (a table), storage, `deploy/queues.json`, and queue defaults.
struct QueueSettingsTests {
    @Test(arguments: [
        (#"{"concurrency":0}"#, "concurrency"),
        (#"{"concurrency":1.5}"#, "concurrency"),
        (#"{"concurrency":"2"}"#, "concurrency"),
        (#"{"rateLimit":5}"#, "rateLimit"),
        (#"{"rateLimit":{"limit":5}}"#, "rateLimit.periodSeconds"),
        (#"{"rateLimit":{"limit":0,"periodSeconds":60}}"#, "rateLimit.limit"),
        (#"{"rateLimit":{"limit":5,"periodSeconds":0}}"#, "rateLimit.periodSeconds"),
        (#"{"rateLimit":{"limit":5,"periodSeconds":60,"burst":1}}"#, "rateLimit.burst"),
        (#"{"paused":"yes"}"#, "paused"),
        (#"{"maxAttempts":101}"#, "maxAttempts"),
        (#"{"backoff":{"baseSeconds":10,"capSeconds":5}}"#, "backoff.capSeconds"),
        (#"{"retention":{"completedSeconds":-1}}"#, "retention.completedSeconds"),
        (#"{"name":"other"}"#, "name"),
        (#"{"concurency":2}"#, "concurency"),
        (#"{"perOrg":2}"#, "perOrg"),
        (#"{"perOrg":{"concurrency":0}}"#, "perOrg.concurrency"),
        (#"{"perOrg":{"rateLimit":{"limit":5}}}"#, "perOrg.rateLimit.periodSeconds"),
        (#"{"perOrg":{"burst":5}}"#, "perOrg.burst"),
        (#"{"perFlowKey":{"concurrency":"1"}}"#, "perFlowKey.concurrency"),
        (#"{"perFlowKey":{"rateLimit":{"limit":0,"periodSeconds":1}}}"#, "perFlowKey.rateLimit.limit"),
    ])
    func invalidFieldsAreNamed(json: String, field: String) throws {
        var settings = QueueSettings(name: "q")
        let error = try #require(throws: JobQueueError.self) { try settings.apply(JSONValue.parse(json)) }
        #expect(error.code == .invalidInput)
        #expect(error.field == field, "\(error.message)")
        #expect(settings == QueueSettings(name: "q"), "a failed patch changes nothing")
    }

    @Test func aPatchSetsAndClearsFields() throws {
        var s = QueueSettings(name: "q")
        try s.apply(json(#"{"concurrency":2,"rateLimit":{"limit":10,"periodSeconds":60},"maxAttempts":5,"backoff":{"baseSeconds":5,"capSeconds":3600},"retention":{"deadSeconds":86400}}"#))
        #expect(s.concurrency == 2 && s.rateLimit == .init(limit: 10, periodSeconds: 60) && s.maxAttempts == 5)
        #expect(s.retention == .init(completedSeconds: nil, deadSeconds: 86400) && s.isLimited)
        try s.apply(json(#"{"concurrency":null,"paused":true}"#))
        #expect(s.concurrency == nil && s.paused && s.rateLimit != nil)
        // The JSON answer reads back as the same settings.
        var copy = QueueSettings(name: "q")
        try copy.apply(s.json)
        #expect(copy == s)
    }

    @Test func perOrgAndPerFlowKeyLimitsMergeAndStore() throws {
        var s = QueueSettings(name: "q")
        try s.apply(json(#"{"perOrg":{"concurrency":2},"perFlowKey":{"rateLimit":{"limit":3,"periodSeconds":1}}}"#))
        #expect(s.perOrg == .init(concurrency: 2) && s.perFlowKey == .init(rateLimit: .init(limit: 3, periodSeconds: 1)) && s.isLimited)
        // A partial object changes only what it names; null clears the whole part.
        try s.apply(json(#"{"perOrg":{"rateLimit":{"limit":10,"periodSeconds":60}}}"#))
        #expect(s.perOrg == .init(concurrency: 2, rateLimit: .init(limit: 10, periodSeconds: 60)))
        try s.apply(json(#"{"perFlowKey":null}"#))
        #expect(s.perFlowKey.isEmpty)
        var copy = QueueSettings(name: "q")
        try copy.apply(s.json)
        #expect(copy == s)

        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let name = TestDatabase.uniqueQueue("parts")
        let saved = try store.updateQueue(named: name, replacing: true,
                                          with: json(#"{"perOrg":{"concurrency":2,"rateLimit":{"limit":10,"periodSeconds":60}}}"#))
        #expect(saved.settings.perOrg == s.perOrg && saved.settings.perFlowKey == s.perFlowKey)
        #expect(try store.queueSettings(named: name)?.perOrg == s.perOrg)
    }

    @Test func updatesMergeOrReplaceAndWriteOnlyChanges() throws {
        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let name = TestDatabase.uniqueQueue("cfg")
        let created = try store.updateQueue(named: name, replacing: false, with: json(#"{"concurrency":3,"paused":true}"#))
        #expect(created.created && created.changed && created.settings.concurrency == 3 && created.settings.paused)
        let same = try store.updateQueue(named: name, replacing: false, with: json(#"{"concurrency":3}"#))
        #expect(!same.changed && same.settings.updatedAt == created.settings.updatedAt)
        let merged = try store.updateQueue(named: name, replacing: false, with: json(#"{"rateLimit":{"limit":7,"periodSeconds":1.5}}"#))
        #expect(merged.changed && merged.settings.concurrency == 3 && merged.settings.rateLimit?.periodSeconds == 1.5)
        let replaced = try store.updateQueue(named: name, replacing: true, with: json(#"{"maxAttempts":9}"#))
        #expect(replaced.settings == QueueSettings(name: name, maxAttempts: 9).with(updatedAt: replaced.settings.updatedAt))
        #expect(try store.queueSettings(named: name) == replaced.settings)
        #expect(try store.queueSettings().contains(replaced.settings))
        // A rejected patch leaves the stored settings alone.
        #expect(throws: JobQueueError.self) { try store.updateQueue(named: name, replacing: false, with: json(#"{"concurrency":-1}"#)) }
        #expect(try store.queueSettings(named: name) == replaced.settings)
    }

    /// The shipped file carries seed 000's limits: routing 2 at a time and 10 a minute, email 5
    /// and 50 a minute.
    @Test func theShippedQueuesFileHoldsTheSeedLimits() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy/queues.json")
        var byName: [String: QueueSettings] = [:]
        for (name, patch) in try QueueSettings.parseFile(try Data(contentsOf: url)) {
            var settings = QueueSettings(name: name)
            try settings.apply(patch)
            byName[name] = settings
        }
        #expect(byName["routing"]?.concurrency == 2)
        #expect(byName["routing"]?.rateLimit == .init(limit: 10, periodSeconds: 60))
        #expect(byName["email"]?.concurrency == 5)
        #expect(byName["email"]?.rateLimit == .init(limit: 50, periodSeconds: 60))
    }

    @Test func theQueuesFileIsIdempotentAndKeepsAnOperatorsPause() throws {
        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let a = TestDatabase.uniqueQueue("file"), b = TestDatabase.uniqueQueue("file")
        let file = Data("""
            {"queues": [
              {"name": "\(a)", "concurrency": 2, "rateLimit": {"limit": 10, "periodSeconds": 60}},
              {"name": "\(b)", "concurrency": 5, "maxAttempts": 5, "backoff": {"baseSeconds": 5, "capSeconds": 600}}
            ]}
            """.utf8)
        #expect(try store.applyQueueFile(file) == [a, b])
        #expect(try store.applyQueueFile(file) == [])
        try store.updateQueue(named: a, replacing: false, with: json(#"{"paused":true}"#))
        #expect(try store.applyQueueFile(file) == [])
        let settings = try #require(try store.queueSettings(named: a))
        #expect(settings.paused && settings.concurrency == 2 && settings.rateLimit == .init(limit: 10, periodSeconds: 60))
    }

    @Test(arguments: [
        (#"[]"#, "queues"),
        (#"{"queues":[{"concurrency":1}]}"#, "queues[0].name"),
        (#"{"queues":[{"name":"a"},{"name":"a"}]}"#, "queues[1].name"),
        (#"{"queues":[{"name":"a","concurrency":0}]}"#, "queues[0].concurrency"),
    ])
    func aBadQueuesFileNamesTheEntry(json: String, field: String) throws {
        let error = try #require(throws: JobQueueError.self) { try QueueSettings.parseFile(Data(json.utf8)) }
        #expect(error.field == field, "\(error.message)")
    }

    /// Precedence: the request, then the kind's own policy, then the queue's default, then the engine's.
    @Test func queueDefaultsApplyWhenNeitherJobNorKindSays() throws {
        let db = try TestDatabase.connect()
        let store = PostgresJobStore(connection: db)
        let queue = TestDatabase.uniqueQueue("defaults")
        let org = TestDatabase.uniqueOrg()
        let kinds = JobKinds([.init(name: "plain", timeoutSeconds: 2, queueOverride: true),
                              .init(name: "noop", retry: RetryPolicy(maxAttempts: 2), timeoutSeconds: 2, queueOverride: true)])
        try store.updateQueue(named: queue, replacing: false, with: json(#"{"maxAttempts":7,"backoff":{"baseSeconds":600,"capSeconds":600}}"#))

        func attempts(_ request: JobRequest) throws -> Int {
            let id = try store.enqueue([request.validated(kinds: kinds)], orgId: org)[0].id
            return try #require(try store.job(id: id, orgId: org)).maxAttempts
        }
        #expect(try attempts(JobRequest(kind: "plain", queue: queue)) == 7)
        #expect(try attempts(JobRequest(kind: "plain", queue: queue, maxAttempts: 4)) == 4)
        #expect(try attempts(JobRequest(kind: "noop", queue: queue)) == 2)
        #expect(try attempts(JobRequest(kind: "plain", queue: TestDatabase.uniqueQueue("none"))) == RetryPolicy.default.maxAttempts)
        // Batches take the same path.
        let batch = try store.enqueue([JobRequest(kind: "plain", queue: queue).validated(kinds: kinds),
                                       JobRequest(kind: "noop", queue: queue).validated(kinds: kinds)], orgId: org)
        #expect(try batch.map { try #require(try store.job(id: $0.id, orgId: org)).maxAttempts } == [7, 2])

        // The queue's backoff paces a kind without a policy: 600 s, no matter the engine's 1 s.
        try db.execute("DELETE FROM conveyor_jobs WHERE queue = \(queue)")
        let id = try store.enqueue([JobRequest(kind: "plain", queue: queue).validated(kinds: kinds)], orgId: org)[0].id
        let processor = Processor(store: store, executor: ClosureExecutor { _, _ in throw JobFailure("later") }, kinds: kinds)
        #expect(try processor.run(BatchOptions(queues: [queue], maxJobs: 1, maxSeconds: 5)).retried == 1)
        let wait = try #require(try store.job(id: id, orgId: org)).runAt.timeIntervalSinceNow
        #expect(wait > 400 && wait <= 601)
    }
}

extension QueueSettings {
    func with(updatedAt: Date?) -> QueueSettings {
        var copy = self
        copy.updatedAt = updatedAt
        return copy
    }
}

/// A JSON literal for tests, written as the text a client would send.
func json(_ text: String) -> JSONValue {
    // Test literals are fixed text: a typo should stop the test at once.
    try! JSONValue.parse(text)
}
