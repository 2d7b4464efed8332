import Foundation
import Postgres

/// Phase 5: enqueue through the SQL function, beside pgbench's plain insert of the same row on
/// the same cluster in the same run. Each pgbench run is a fixed time at a fixed number of
/// clients; the variants alternate over `rounds` so drift hits them alike, and each is reported
/// as the mean of its rounds. A failed transaction fails the run (pgbench -n reports them).
///
/// - plain insert: the row enqueue stores for a due noop job, no notification;
/// - insert + NOTIFY: the same with the enqueue's notification in the same transaction, which
///   PostgreSQL serializes at commit (the floor for anything that announces a job at its commit);
/// - conveyor.enqueue: the function, which checks the job and sends that notification;
/// - batches of 1,000 the same three ways (one INSERT … SELECT; enqueue_many).
struct SQLEnqueueBench {
    let url: String
    let pgbin: String
    let schema: String
    let orgId: Int64
    let seconds: Int
    let rounds: Int

    static let payload = #"{"to":"user@example.com","n":42}"#

    var plainInsert: String {
        "INSERT INTO \(schema).conveyor_jobs (org_id, queue, kind, payload, max_attempts, timeout_ms) VALUES (\(orgId), 'bench-sql', 'noop', '\(Self.payload)', 3, 500);"
    }
    var insertAndNotify: String {
        "BEGIN;\n\(plainInsert)\nSELECT pg_notify('\(schema)_jobs', 'bench-sql');\nEND;"
    }
    var function: String {
        "SELECT \(schema).enqueue(\(orgId), 'noop', '\(Self.payload)', queue => 'bench-sql');"
    }
    var plainBatch: String {
        "INSERT INTO \(schema).conveyor_jobs (org_id, queue, kind, payload, max_attempts, timeout_ms) SELECT \(orgId), 'bench-sql', 'noop', '\(Self.payload)', 3, 500 FROM generate_series(1, 1000);"
    }
    var batchAndNotify: String {
        "BEGIN;\n\(plainBatch)\nSELECT pg_notify('\(schema)_jobs', 'bench-sql');\nEND;"
    }
    var functionBatch: String {
        let jobs = Array(repeating: #"{"kind":"noop","queue":"bench-sql","payload":\#(Self.payload)}"#, count: 1000).joined(separator: ",")
        return "SELECT count(*) FROM \(schema).enqueue_many(\(orgId), '[\(jobs)]');"
    }

    /// Transactions per second of `script` at `clients`, from pgbench.
    func pgbench(_ script: String, clients: Int) throws -> Double {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-sql-\(UUID().uuidString).sql")
        try (script + "\n").write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "\(pgbin)/pgbench")
        p.arguments = ["-n", "-M", "prepared", "-f", file.path, "-c", String(clients), "-j", String(min(clients, 4)), "-T", String(seconds), url]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, !text.contains("number of failed transactions: ") || text.contains("number of failed transactions: 0 "),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
              let tps = Double(line.dropFirst(6).prefix { $0 != " " }) else {
            throw PostgresError(.query, message: "pgbench failed: \(text.suffix(600))")
        }
        return tps
    }

    /// Mean tps of each script over the rounds, the scripts alternating within each round.
    func compare(_ scripts: [String], clients: Int) throws -> [Double] {
        var sums = Array(repeating: 0.0, count: scripts.count)
        for _ in 0..<rounds {
            for (i, script) in scripts.enumerated() { sums[i] += try pgbench(script, clients: clients) }
        }
        return sums.map { $0 / Double(rounds) }
    }
}
