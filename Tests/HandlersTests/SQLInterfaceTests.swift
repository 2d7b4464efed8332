import Foundation
import Handlers
import JobQueue
import Postgres
import TestSupport
import Testing

/// `enqueue` and `enqueue_many` in SQL against the `enqueue` function over HTTP: the same body
/// is accepted by both or refused by both, naming the same field, and an accepted job is stored
/// with the same defaults.
@Suite struct SQLInterfaceTests {
    /// Batch entries (the HTTP body is `{"jobs": [entry]}`, so both name fields `jobs[0].…`),
    /// and the field a refusal names, nil for a job both must accept.
    static let cases: [(entry: String, field: String?)] = [
        (#"{"kind":"noop"}"#, nil),
        (#"{"kind":"noop","payload":{"a":[1,2,{"b":null}]},"priority":7,"maxAttempts":9}"#, nil),
        (#"{"kind":"fail","delaySeconds":30,"priority":-100}"#, nil),
        (#"{"kind":"noop","runAt":"2026-01-02T03:04:05+02:00"}"#, nil),
        (#"{"kind":"noop","timeoutSeconds":0.25,"flowKey":"customer-7"}"#, nil),
        (#"{"kind":"noop","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#, nil),
        (#"{"kind":"send-email","payload":{"to":"a@example.com"}}"#, nil),
        (#"{"kind":"route-intake","maxAttempts":1}"#, nil),
        (#"{}"#, "jobs[0].kind"),
        (#"{"kind":""}"#, "jobs[0].kind"),
        (#"{"kind":"resize-image"}"#, "jobs[0].kind"),
        (#"{"kind":"target:no-such-target"}"#, "jobs[0].kind"),
        (#"{"kind":7}"#, "jobs[0].kind"),
        (#"{"kind":"noop","payload":[1]}"#, "jobs[0].payload"),
        (#"{"kind":"noop","payload":"text"}"#, "jobs[0].payload"),
        (#"{"kind":"send-email","queue":"default"}"#, "jobs[0].queue"),
        (#"{"kind":"noop","queue":"Not A Queue"}"#, "jobs[0].queue"),
        (#"{"kind":"noop","queue":5}"#, "jobs[0].queue"),
        (#"{"kind":"noop","priority":101}"#, "jobs[0].priority"),
        (#"{"kind":"noop","priority":1.5}"#, "jobs[0].priority"),
        (#"{"kind":"noop","priority":"high"}"#, "jobs[0].priority"),
        (#"{"kind":"noop","delaySeconds":-1}"#, "jobs[0].delaySeconds"),
        (#"{"kind":"noop","delaySeconds":40000000}"#, "jobs[0].delaySeconds"),
        (#"{"kind":"noop","runAt":"2026-02-31T00:00:00Z"}"#, "jobs[0].runAt"),
        (#"{"kind":"noop","runAt":"tomorrow"}"#, "jobs[0].runAt"),
        (#"{"kind":"noop","runAt":"2099-01-01T00:00:00Z"}"#, "jobs[0].runAt"),
        (#"{"kind":"noop","runAt":"2026-01-01T00:00:00Z","delaySeconds":5}"#, "jobs[0].runAt"),
        (#"{"kind":"noop","maxAttempts":0}"#, "jobs[0].maxAttempts"),
        (#"{"kind":"noop","maxAttempts":101}"#, "jobs[0].maxAttempts"),
        (#"{"kind":"noop","idempotencyKey":""}"#, "jobs[0].idempotencyKey"),
        (#"{"kind":"noop","idempotencyKey":"a\u0001b"}"#, "jobs[0].idempotencyKey"),
        (#"{"kind":"noop","flowKey":"\#(String(repeating: "f", count: 256))"}"#, "jobs[0].flowKey"),
        (#"{"kind":"noop","timeoutSeconds":5}"#, "jobs[0].timeoutSeconds"),
        (#"{"kind":"noop","timeoutSeconds":0}"#, "jobs[0].timeoutSeconds"),
        (#"{"kind":"noop","traceparent":"00-00000000000000000000000000000000-b7ad6b7169203331-01"}"#, "jobs[0].traceparent"),
        (#"{"kind":"noop","traceparent":"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"}"#, "jobs[0].traceparent"),
        (#"{"kind":"noop","colour":"red"}"#, "jobs[0].colour"),
    ]

    /// The columns that make up what was stored, as text, for comparing two jobs (run_at only
    /// as "now or later": two enqueues of a delay are milliseconds apart).
    static func stored(_ id: Int64, on db: Connection) throws -> [String] {
        let row = try db.query("""
            SELECT kind, queue, payload::text AS payload, priority::text AS priority, max_attempts::text AS attempts, state::text AS state,
                   timeout_ms::text AS timeout, flow_key, coalesce(traceparent, '') AS trace,
                   (run_at > now() + interval '10 seconds')::text AS later
            FROM conveyor_jobs WHERE id = \(id)
            """)[0]
        return try ["kind", "queue", "payload", "priority", "attempts", "state", "timeout", "flow_key", "trace", "later"].map { try row.decode($0) }
    }

    /// Entries whose mistake is JSON's own (a type, a date's text, an unknown key): SQL
    /// arguments are typed, so only `enqueue_many` can meet them.
    static func isJSONOnly(_ entry: String) -> Bool {
        [#""kind":7"#, #""queue":5"#, #""priority":1.5"#, #""high""#, "tomorrow", "2026-02-31", "colour"].contains { entry.contains($0) }
    }

    /// `enqueue`'s argument for a batch entry's field.
    static func argument(_ field: String) -> String {
        let name = field.replacingOccurrences(of: "jobs[0].", with: "")
        return ["runAt": "run_at", "delaySeconds": "delay_seconds", "maxAttempts": "max_attempts", "idempotencyKey": "idempotency_key",
                "flowKey": "flow_key", "timeoutSeconds": "timeout_seconds"][name] ?? name
    }

    /// `enqueue` with a batch entry's fields as its arguments.
    static func single(_ entry: String, org: Int64, on db: Connection) throws -> Int64 {
        try db.query("""
            SELECT enqueue(\(org), e->>'kind', e->'payload', e->>'queue', (e->>'priority')::int, (e->>'runAt')::timestamptz,
                           (e->>'maxAttempts')::int, e->>'idempotencyKey', e->>'flowKey', (e->>'delaySeconds')::float8,
                           (e->>'timeoutSeconds')::float8, e->>'traceparent') AS id
            FROM (SELECT \(PostgresJSON(text: entry))::jsonb AS e) AS x
            """)[0].decode("id")
    }

    @Test func sqlEnqueueAcceptsAndRefusesExactlyAsTheEnqueueFunction() throws {
        let h = try Harness()
        try SQLInterface.publishKinds(Harness.manifest().jobKinds, on: h.db)
        for (entry, field) in Self.cases {
            let http = h.enqueue(#"{"jobs":[\#(entry)]}"#)
            var sqlError: PostgresError?
            var sqlId: Int64?
            do {
                sqlId = try h.db.query("SELECT id FROM enqueue_many(\(h.orgId), \(PostgresJSON(text: "[\(entry)]"))::jsonb) AS id")[0].decode("id")
            } catch let error as PostgresError {
                sqlError = error
            }
            var singleError: PostgresError?
            var singleId: Int64?
            if !Self.isJSONOnly(entry) {
                do { singleId = try Self.single(entry, org: h.orgId, on: h.db) } catch let error as PostgresError { singleError = error }
            }
            if let field, !Self.isJSONOnly(entry) {
                #expect(singleError?.sqlState == "22023", "enqueue() for \(entry): \(String(describing: singleError))")
                #expect(singleError?.message.hasPrefix(Self.argument(field) + ":") == true, "enqueue() for \(entry): \(String(describing: singleError))")
            }
            if field == nil {
                #expect(singleError == nil, "enqueue() refused \(entry): \(String(describing: singleError))")
                if let singleId, let sqlId { #expect(try Self.stored(singleId, on: h.db) == Self.stored(sqlId, on: h.db), "\(entry)") }
            }
            if let field {
                #expect(http.status == 422 || http.status == 400, "HTTP accepted \(entry)")
                #expect(http.json["error"]?["message"]?.stringValue?.hasPrefix(field + ":") == true, "HTTP for \(entry): \(http.json)")
                #expect(sqlError?.sqlState == "22023", "SQL for \(entry): \(String(describing: sqlError))")
                #expect(sqlError?.message.hasPrefix(field + ":") == true, "SQL for \(entry): \(String(describing: sqlError))")
            } else {
                #expect(http.status == 201, "HTTP refused \(entry): \(http.json)")
                #expect(sqlError == nil, "SQL refused \(entry): \(String(describing: sqlError))")
                if case .array(let answered)? = http.json["jobs"], let httpId = answered.first?["id"]?.intValue, let sqlId {
                    #expect(try Self.stored(sqlId, on: h.db) == Self.stored(httpId, on: h.db), "\(entry)")
                }
            }
        }
    }

    @Test func aRepeatedIdempotencyKeyAnswersTheJobThatHoldsIt() throws {
        let h = try Harness()
        try SQLInterface.publishKinds(Harness.manifest().jobKinds, on: h.db)
        let key = "order-\(UUID().uuidString)"
        let first: Int64 = try h.db.query("SELECT enqueue(\(h.orgId), 'noop', idempotency_key => \(key)) AS id")[0].decode("id")
        let again: Int64 = try h.db.query("SELECT enqueue(\(h.orgId), 'noop', '{\"other\":1}', idempotency_key => \(key)) AS id")[0].decode("id")
        let http = h.enqueue(#"{"kind":"noop","idempotencyKey":"\#(key)"}"#)
        #expect(first == again)
        #expect(http.status == 200)
        #expect(http.id == first)
        #expect(try h.jobCount() == 1)

        // In a batch: a key seen earlier in it, a key already stored, and keyless jobs between.
        let fresh = "fresh-\(UUID().uuidString)"
        let batch = #"[{"kind":"noop","idempotencyKey":"\#(fresh)"},{"kind":"noop","payload":{"n":1}},{"kind":"noop","idempotencyKey":"\#(fresh)"},"#
            + #"{"kind":"noop","idempotencyKey":"\#(key)"},{"kind":"noop","payload":{"n":2}}]"#
        let ids: [Int64] = try h.db.query("SELECT id FROM enqueue_many(\(h.orgId), \(PostgresJSON(text: batch))::jsonb) AS id").map { try $0.decode("id") }
        #expect(ids.count == 5)
        #expect(ids[0] == ids[2])
        #expect(ids[3] == first)
        #expect(ids[0] < ids[1] && ids[1] < ids[4])
        #expect(try h.jobCount() == 4)
        let payloads: [String] = try [ids[1], ids[4]].map { try h.db.query("SELECT payload::text AS p FROM conveyor_jobs WHERE id = \($0)")[0].decode("p") }
        #expect(payloads == [#"{"n": 1}"#, #"{"n": 2}"#])
    }

    /// A bad entry anywhere in a batch stores nothing; a good batch answers ids in input order.
    @Test func aBatchIsStoredWholeOrNotAtAll() throws {
        let h = try Harness()
        try SQLInterface.publishKinds(Harness.manifest().jobKinds, on: h.db)
        let bad = #"[{"kind":"noop"},{"kind":"noop"},{"kind":"nope"}]"#
        let error = #expect(throws: PostgresError.self) { try h.db.query("SELECT * FROM enqueue_many(\(h.orgId), \(PostgresJSON(text: bad))::jsonb)") }
        #expect(error?.message.hasPrefix("jobs[2].kind:") == true)
        #expect(try h.jobCount() == 0)

        let jobs = (0..<1000).map { #"{"kind":"noop","payload":{"n":\#($0)}}"# }.joined(separator: ",")
        let ids: [Int64] = try h.db.query("SELECT id FROM enqueue_many(\(h.orgId), \(PostgresJSON(text: "[\(jobs)]"))::jsonb) AS id").map { try $0.decode("id") }
        #expect(ids.count == 1000)
        #expect(ids == ids.sorted())
        let order: [Int] = try h.db.query("SELECT (payload->>'n')::int AS n FROM conveyor_jobs WHERE org_id = \(h.orgId) ORDER BY id").map { try $0.decode("n") }
        #expect(order == Array(0..<1000))
        let tooMany = "[" + Array(repeating: #"{"kind":"noop"}"#, count: 1001).joined(separator: ",") + "]"
        let refused = #expect(throws: PostgresError.self) { try h.db.query("SELECT * FROM enqueue_many(\(h.orgId), \(PostgresJSON(text: tooMany))::jsonb)") }
        #expect(refused?.message.hasPrefix("jobs:") == true)
    }

    @Test func limitsHaveTheirOwnSQLStates() throws {
        let h = try Harness()
        try SQLInterface.publishKinds(Harness.manifest().jobKinds, on: h.db)
        let big = "{\"text\":\"\(String(repeating: "x", count: 300_000))\"}"
        let tooLarge = #expect(throws: PostgresError.self) { try h.db.query("SELECT enqueue(\(h.orgId), 'noop', \(PostgresJSON(text: big))::jsonb)") }
        #expect(tooLarge?.sqlState == "54000")
        #expect(tooLarge?.message.hasPrefix("payload:") == true)
        let nul = #expect(throws: PostgresError.self) { try h.db.query("SELECT enqueue(\(h.orgId), 'noop', \(PostgresJSON(text: #"{"a":"x\u0000y"}"#))::jsonb)") }
        #expect(nul?.sqlState == "22P05")
        let noOrg = #expect(throws: PostgresError.self) { try h.db.query("SELECT enqueue(-1, 'noop')") }
        #expect(noOrg?.sqlState == "22023")
        #expect(noOrg?.message.hasPrefix("org_id:") == true)
        #expect(try h.jobCount() == 0)
    }

    /// The view shows the application a job's result, its error history and its progress.
    @Test func theJobResultsViewShowsWhatJobStatusShows() throws {
        let h = try Harness()
        try SQLInterface.publishKinds(Harness.manifest().jobKinds, on: h.db)
        let ok: Int64 = try h.db.query("SELECT enqueue(\(h.orgId), 'noop', '{\"n\":1}', queue => \(h.queue)) AS id")[0].decode("id")
        let failing: Int64 = try h.db.query("SELECT enqueue(\(h.orgId), 'fail', '{\"message\":\"boom\"}', queue => \(h.queue), max_attempts => 1) AS id")[0].decode("id")
        #expect(h.process().status == 200)
        for id in [ok, failing] {
            let status = h.status(id).json
            let row = try h.db.query("SELECT state, attempt, result::text AS result, errors::text AS errors FROM job_results WHERE id = \(id) AND org_id = \(h.orgId)")[0]
            #expect(try row.decode("state", as: String.self) == status["state"]?.stringValue)
            #expect(try row.decode("attempt", as: Int.self) == status["attempt"]?.intValue.map(Int.init))
            let result = try row.decodeIfPresent("result", as: String.self).map { try JSONValue.parse($0) }
            #expect(result == status["result"].flatMap { $0 == .null ? nil : $0 })
            let errors = try JSONValue.parse(try row.decode("errors", as: String.self))
            guard case .array(let stored) = errors, case .array(let shown)? = status["errors"] else {
                Issue.record("errors are not arrays: \(errors) \(status)")
                continue
            }
            #expect(stored.count == shown.count)
        }
        #expect(try h.db.query("SELECT state FROM job_results WHERE id = \(failing)")[0].decode("state", as: String.self) == "dead")
    }

    /// A key another transaction holds uncommitted: the call waits for it and then answers the
    /// job that transaction stored, never a NULL id (batch and single alike).
    @Test(arguments: [true, false])
    func aKeyHeldByARacingTransactionAnswersItsJob(batch: Bool) throws {
        let h = try Harness()
        try SQLInterface.publishKinds(Harness.manifest().jobKinds, on: h.db)
        let url = try #require(ProcessInfo.processInfo.environment["DATABASE_URL"])
        let key = "race-\(UUID().uuidString)"
        let org = h.orgId
        let holder = try Connection(url: url)
        let racer = try Connection(url: url)
        let first = Box<Int64>()
        let raced = Box<Result<Int64?, any Error>>()
        let done = DispatchSemaphore(value: 0)
        try holder.transaction { holder in
            first.value = try holder.query("SELECT enqueue(\(h.orgId), 'noop', idempotency_key => \(key)) AS id")[0].decode("id")
            Thread.detachNewThread {
                raced.value = Result {
                    batch
                        ? try racer.query("SELECT id FROM enqueue_many(\(org), \(PostgresJSON(text: #"[{"kind":"noop"},{"kind":"noop","idempotencyKey":"\#(key)"}]"#))::jsonb) AS id")[1]
                            .decodeIfPresent("id", as: Int64.self)
                        : try racer.query("SELECT enqueue(\(org), 'noop', idempotency_key => \(key)) AS id")[0].decodeIfPresent("id", as: Int64.self)
                }
                done.signal()
            }
            // The racer waits on the key until this commits.
            usleep(300_000)
        }
        #expect(done.wait(timeout: .now() + 20) == .success)
        let answered = try #require(raced.value).get()
        #expect(answered != nil && answered == first.value, "\(String(describing: answered)) vs \(String(describing: first.value))")
    }
}
