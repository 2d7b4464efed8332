import Foundation
import Intake
import JobQueue
import Postgres
import Testing

struct IntakeStoreTests {
    @Test func upsertCreatesThenUpdatesByNameAndById() throws {
        let t = try IntakeTestDatabase()
        let store = PipelineStore(connection: t.db)
        let (created, isNew) = try store.upsert(try PipelineInput(name: "Billing", description: "Invoices", keywords: ["refund"]), orgId: t.orgId)
        #expect(isNew)
        #expect(created.isActive && created.keywords == ["refund"])

        // By name: only the fields given change.
        let (byName, isNew2) = try store.upsert(try PipelineInput(name: "Billing", keywords: ["refund", "invoice"]), orgId: t.orgId)
        #expect(!isNew2)
        #expect(byName.id == created.id && byName.description == "Invoices" && byName.keywords == ["refund", "invoice"])

        // By id: rename and deactivate.
        let (byId, _) = try store.upsert(try PipelineInput(id: created.id, name: "Accounts", isActive: false), orgId: t.orgId)
        #expect(byId.name == "Accounts" && !byId.isActive && byId.description == "Invoices")
        #expect(try store.pipelines(orgId: t.orgId, includeInactive: false).isEmpty)
        #expect(try store.pipelines(orgId: t.orgId).map(\.id) == [created.id])
    }

    @Test func anotherOrgsPipelineIsNotFoundAndNamesAreUniquePerOrg() throws {
        let t = try IntakeTestDatabase()
        let other = try IntakeTestDatabase.newOrg(t.db)
        let mine = try t.pipeline("Support")
        let theirs = try t.pipeline("Support", orgId: other)
        #expect(mine.id != theirs.id)
        #expect(throws: IntakeError(.notFound, "no such pipeline", field: "id")) {
            try PipelineStore(connection: t.db).upsert(try PipelineInput(id: theirs.id, isActive: false), orgId: t.orgId)
        }
        #expect(try PipelineStore(connection: t.db).pipeline(id: theirs.id, orgId: other)?.isActive == true)
        try t.pipeline("Sales")
        do {
            _ = try PipelineStore(connection: t.db).upsert(try PipelineInput(id: mine.id, name: "Sales"), orgId: t.orgId)
            Issue.record("a rename onto an existing name was accepted")
        } catch let e as IntakeError {
            #expect(e.code == .conflict && e.field == "name")
        }
    }

    /// Every pipeline of an org is listed in one answer and sent to the LLM in every prompt, so
    /// an org's pipelines are capped: a new one past the cap is a conflict, while updating an
    /// existing one (by name or id) still works.
    @Test func anOrgsPipelinesAreCapped() throws {
        let t = try IntakeTestDatabase()
        let store = PipelineStore(connection: t.db)
        for i in 0..<PipelineStore.maxPipelinesPerOrg {
            try t.db.execute("INSERT INTO pipelines (org_id, name) VALUES (\(t.orgId), \("P\(i)"))")
        }
        do {
            _ = try store.upsert(try PipelineInput(name: "One too many"), orgId: t.orgId)
            Issue.record("a pipeline past the cap was created")
        } catch let e as IntakeError {
            #expect(e.code == .conflict && e.message.contains("\(PipelineStore.maxPipelinesPerOrg)"))
        }
        let (updated, created) = try store.upsert(try PipelineInput(name: "P7", description: "still editable"), orgId: t.orgId)
        #expect(!created && updated.description == "still editable")
        #expect(try store.pipelines(orgId: t.orgId).count == PipelineStore.maxPipelinesPerOrg)
        // Another org is not affected by this one's count.
        #expect(try store.upsert(try PipelineInput(name: "One too many"), orgId: try IntakeTestDatabase.newOrg(t.db)).created)
    }

    @Test func theDatabaseRefusesCrossOrgAssignmentsAndBadValues() throws {
        let t = try IntakeTestDatabase()
        let other = try IntakeTestDatabase.newOrg(t.db)
        let theirs = try t.pipeline("Theirs", orgId: other)
        let request = try IntakeRequestStore(connection: t.db).insert(try NewIntakeRequest(title: "Hello", source: "API"), orgId: t.orgId)
        // The composite foreign key holds even if code above it forgot the org check.
        #expect(throws: PostgresError.self) {
            try t.db.execute("UPDATE intake_requests SET status = 'ASSIGNED', assigned_pipeline_id = \(theirs.id) WHERE id = \(request.id)")
        }
        for bad: SQL in [
            "UPDATE intake_requests SET status = 'DONE' WHERE id = \(request.id)",
            "UPDATE intake_requests SET status = 'ASSIGNED' WHERE id = \(request.id)",
            "UPDATE intake_requests SET priority = 4 WHERE id = \(request.id)",
            "UPDATE intake_requests SET routing_confidence = 1.01 WHERE id = \(request.id)",
            "UPDATE intake_requests SET source = 'FAX' WHERE id = \(request.id)",
            "INSERT INTO activity_log (org_id, action, entity) VALUES (\(t.orgId), 'lower', 'intake_request')",
        ] {
            #expect(throws: PostgresError.self) { try t.db.execute(bad) }
        }
    }

    @Test func listingIsNewestFirstFilteredAndKeysetPaged() throws {
        let t = try IntakeTestDatabase()
        let store = IntakeRequestStore(connection: t.db)
        var ids: [Int64] = []
        for i in 0..<5 {
            ids.append(try store.insert(try NewIntakeRequest(title: "r\(i)", source: i % 2 == 0 ? "EMAIL" : "CHAT"), orgId: t.orgId).id)
        }
        _ = try store.insert(try NewIntakeRequest(title: "elsewhere", source: "EMAIL"), orgId: try IntakeTestDatabase.newOrg(t.db))
        let first = try store.requests(orgId: t.orgId, filter: IntakeFilter(limit: 2))
        #expect(first.requests.map(\.id) == [ids[4], ids[3]])
        let second = try store.requests(orgId: t.orgId, filter: IntakeFilter(limit: 2, before: first.nextCursor))
        #expect(second.requests.map(\.id) == [ids[2], ids[1]])
        let last = try store.requests(orgId: t.orgId, filter: IntakeFilter(limit: 2, before: second.nextCursor))
        #expect(last.requests.map(\.id) == [ids[0]] && last.nextCursor == nil)
        #expect(try store.requests(orgId: t.orgId, filter: IntakeFilter(source: .email)).requests.map(\.id) == [ids[4], ids[2], ids[0]])
        #expect(try store.requests(orgId: t.orgId, filter: IntakeFilter(status: .assigned)).requests.isEmpty)
        #expect(try store.requests(orgId: t.orgId, filter: IntakeFilter(status: .new)).requests.count == 5)
    }

    @Test func aJobStoresItsNewRequestOnceHoweverOftenItRuns() throws {
        let t = try IntakeTestDatabase()
        let store = IntakeRequestStore(connection: t.db)
        let new = try NewIntakeRequest(title: "From a job", source: "API")
        let a = try store.insert(new, orgId: t.orgId, sourceJobId: 987_654)
        let b = try store.insert(new, orgId: t.orgId, sourceJobId: 987_654)
        #expect(a.id == b.id)
        #expect(try store.requests(orgId: t.orgId, filter: IntakeFilter()).requests.count == 1)
    }
}
