import Foundation
import Postgres
import Testing

/// Values go to the server as bind parameters and come back as text, both as an expression
/// (`SELECT $1::type`) and through a real column (insert, then select).
@Suite struct TypeRoundTripTests {
    func roundTrip<T: PostgresEncodable & PostgresDecodable & Equatable>(
        _ value: T, as type: String, on db: Connection, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let selected = try db.query("SELECT \(value)::\(unsafe: type) AS v")
        #expect(try selected[0].decode("v", as: T.self) == value, sourceLocation: sourceLocation)

        let table = TestDatabase.uniqueName("rt")
        try db.execute("CREATE TEMP TABLE \(unsafe: table) (v \(unsafe: type))")
        #expect(try db.execute("INSERT INTO \(unsafe: table) (v) VALUES (\(value))") == 1)
        let stored = try db.query("SELECT v FROM \(unsafe: table)")
        #expect(try stored[0].decode("v", as: T.self) == value, sourceLocation: sourceLocation)
        try db.execute("DROP TABLE \(unsafe: table)")
    }

    @Test func strings() throws {
        let db = try TestDatabase.connect()
        for value in [
            "", "plain", "emoji 🚀👩‍👩‍👧‍👦", "combining e\u{301} vs é", "CJK 漢字かなカナ한국어",
            "quotes ' \" and \\ backslashes \\\\", "new\nline\ttab", "{braces,commas}", "NULL",
            String(repeating: "long ", count: 10_000),
        ] {
            try roundTrip(value, as: "text", on: db)
        }
        // Canonically equivalent but different scalars must stay distinct.
        let decomposed = try db.query("SELECT \("e\u{301}")::text AS v")
        #expect(try decomposed[0].decode("v", as: String.self).unicodeScalars.count == 2)
        let substring = "hello world".dropFirst(6)
        #expect(try db.query("SELECT \(substring)::text AS v")[0].decode("v", as: String.self) == "world")
    }

    @Test func integers() throws {
        let db = try TestDatabase.connect()
        for value in [0, 1, -1, Int.max, Int.min] { try roundTrip(value, as: "bigint", on: db) }
        for value in [Int64.max, Int64.min, 42] { try roundTrip(value, as: "int8", on: db) }
        for value in [Int32.max, Int32.min, 7] { try roundTrip(value, as: "int4", on: db) }
        for value in [Int16.max, Int16.min, -3] { try roundTrip(value, as: "int2", on: db) }
        #expect(throws: PostgresError.self) {
            try db.query("SELECT 100000::int AS v")[0].decode("v", as: Int16.self)
        }
    }

    @Test func booleans() throws {
        let db = try TestDatabase.connect()
        try roundTrip(true, as: "boolean", on: db)
        try roundTrip(false, as: "boolean", on: db)
        #expect(try db.query("SELECT true AS v")[0].text("v") == "t")
    }

    @Test func floatingPoint() throws {
        let db = try TestDatabase.connect()
        for value in [0.0, -0.5, 3.141592653589793, 1e300, -1e-300, 0.1 + 0.2, .infinity, -.infinity] {
            try roundTrip(value, as: "double precision", on: db)
        }
        for value: Float in [0, 1.5, -2.25e10, .infinity, 3.4028235e38] {
            try roundTrip(value, as: "real", on: db)
        }
        let nan = try db.query("SELECT \(Double.nan)::float8 AS v")
        #expect(try nan[0].decode("v", as: Double.self).isNaN)
        #expect(try db.query("SELECT 'NaN'::float4 AS v")[0].decode("v", as: Float.self).isNaN)
        #expect(try db.query("SELECT 12.5::numeric AS v")[0].decode("v", as: Double.self) == 12.5)
    }

    @Test func uuids() throws {
        let db = try TestDatabase.connect()
        try roundTrip(UUID(), as: "uuid", on: db)
        let fixed = try #require(UUID(uuidString: "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"))
        #expect(try db.query("SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS v")[0].decode("v", as: UUID.self) == fixed)
    }

    @Test func bytea() throws {
        let db = try TestDatabase.connect()
        try roundTrip(Data(), as: "bytea", on: db)
        try roundTrip(Data([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff, 0x5c, 0x22]), as: "bytea", on: db)
        try roundTrip(Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7) }), as: "bytea", on: db)
        #expect(try Data(postgresText: "\\x00ff") == Data([0, 255]))
        // The legacy escape format, in case a server is configured with bytea_output=escape.
        #expect(try Data(postgresText: "a\\\\b\\000\\377") == Data([0x61, 0x5c, 0x62, 0, 255]))
        #expect(throws: PostgresError.self) { try Data(postgresText: "\\x0") }
    }

    @Test func json() throws {
        struct Payload: Codable, Equatable {
            var name: String
            var tags: [String]
            var url: String
            var nested: [String: Int]
        }
        let db = try TestDatabase.connect()
        let payload = Payload(name: "Zoë \"q\" 🚀", tags: ["a", "b\\c"], url: "https://x.test/a/b", nested: ["k": 1])
        let json = try PostgresJSON(encoding: payload)
        #expect(json.text.contains("https://x.test/a/b"))  // slashes not escaped
        let result = try db.query("SELECT \(json)::jsonb AS v")
        let back = try result[0].decode("v", as: PostgresJSON.self)
        #expect(try back.decode(Payload.self) == payload)

        let table = TestDatabase.uniqueName("json")
        try db.execute("CREATE TEMP TABLE \(unsafe: table) (doc jsonb NOT NULL, raw json)")
        try db.execute("INSERT INTO \(unsafe: table) VALUES (\(json), \(PostgresJSON(text: "{\"b\":1,  \"a\":2}")))")
        let row = try db.query("SELECT doc, raw, doc->>'name' AS name FROM \(unsafe: table)")[0]
        #expect(try row.decode("doc", as: PostgresJSON.self).decode(Payload.self) == payload)
        #expect(try row.decode("raw", as: PostgresJSON.self).text == "{\"b\":1,  \"a\":2}")  // json keeps text as is
        #expect(try row.decode("name", as: String.self) == payload.name)
        #expect(throws: PostgresError.self) { try PostgresJSON(text: "[1]").decode(Payload.self) }
    }

    @Test func dates() throws {
        let db = try TestDatabase.connect()
        // Microsecond-aligned instants survive exactly (up to Double's resolution).
        for micros: Int64 in [0, 1_795_000_000_123_456, 1_795_000_000_000_001, -1_234_567_890_999_999, 253_402_300_799_000_000, 1_000_000_000_999_999] {
            let date = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
            let back = try db.query("SELECT \(date)::timestamptz AS v")[0].decode("v", as: Date.self)
            #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.5e-6)
            let table = TestDatabase.uniqueName("dates")
            try db.execute("CREATE TEMP TABLE \(unsafe: table) (v timestamptz)")
            try db.execute("INSERT INTO \(unsafe: table) VALUES (\(date))")
            let stored = try db.query("SELECT v, (extract(epoch FROM v) * 1000000)::bigint AS micros FROM \(unsafe: table)")[0]
            #expect(try stored.decode("micros", as: Int64.self) == micros)
            #expect(abs(try stored.decode("v", as: Date.self).timeIntervalSince1970 - date.timeIntervalSince1970) < 0.5e-6)
        }
    }

    @Test func extremeDates() throws {
        let db = try TestDatabase.connect()
        try roundTrip(Date.distantPast, as: "timestamptz", on: db)
        try roundTrip(Date.distantFuture, as: "timestamptz", on: db)
        let bc = try db.query("SELECT \(Date.distantPast)::timestamptz AS v")[0]
        #expect(bc.text("v") == "0001-12-30 00:00:00+00 BC")
    }

    @Test func serverDateOutputIsParsed() throws {
        let db = try TestDatabase.connect()
        let row = try db.query("""
            SELECT '2026-11-22 17:44:18.123456+00'::timestamptz AS micro,
                   '2026-11-22 17:44:18+00'::timestamptz AS whole,
                   '2026-11-22 17:44:18.5+00'::timestamptz AS half,
                   'infinity'::timestamptz AS inf, '-infinity'::timestamptz AS neginf,
                   '2026-11-22 17:44:18.123456'::timestamp AS naive,
                   '2026-11-22'::date AS day
            """)[0]
        #expect(row.text("micro") == "2026-11-22 17:44:18.123456+00")  // session is UTC + ISO
        let expected = try #require(ISO8601DateFormatter().date(from: "2026-11-22T17:44:18Z"))
        #expect(abs(try row.decode("micro", as: Date.self).timeIntervalSince(expected) - 0.123456) < 1e-6)
        #expect(try row.decode("whole", as: Date.self) == expected)
        #expect(try row.decode("half", as: Date.self) == expected.addingTimeInterval(0.5))
        #expect(try row.decode("inf", as: Date.self) == .distantFuture)
        #expect(try row.decode("neginf", as: Date.self) == .distantPast)
        #expect(abs(try row.decode("naive", as: Date.self).timeIntervalSince(expected) - 0.123456) < 1e-6)
        #expect(try row.decode("day", as: Date.self) == expected.addingTimeInterval(-(17 * 3600 + 44 * 60 + 18)))

        // Other offsets, should someone change the session time zone.
        #expect(try Date(postgresText: "2026-11-22 23:14:18+05:30") == expected)
        #expect(try Date(postgresText: "2026-11-22 12:44:18-05") == expected)
        #expect(try Date(postgresText: "0044-03-15 12:00:00+00 BC") < Date.distantPast)
        #expect(throws: PostgresError.self) { try Date(postgresText: "yesterday") }
        #expect(throws: PostgresError.self) { try Date(postgresText: "2026-13-01 00:00:00+00") }
    }

    @Test func dateEncodingFormat() {
        let date = Date(timeIntervalSince1970: 1_795_000_000.5)
        #expect(date.postgresText == "2026-11-18T11:06:40.500000+00:00")
        #expect(Date(timeIntervalSince1970: 0).postgresText == "1970-01-01T00:00:00.000000+00:00")
        #expect(Date(timeIntervalSince1970: -0.000001).postgresText == "1969-12-31T23:59:59.999999+00:00")
        // Foundation's distantPast is 1 January 1 in the Julian calendar; Postgres (like this
        // code) counts in the proleptic Gregorian calendar, where that day falls in 1 BC.
        #expect(Date.distantPast.postgresText == "0001-12-30T00:00:00.000000+00:00 BC")
        #expect(Date.distantFuture.postgresText == "4001-01-01T00:00:00.000000+00:00")
    }

    @Test func nulls() throws {
        let db = try TestDatabase.connect()
        let none: String? = nil
        let some: Int? = 5
        let row = try db.query("SELECT \(none)::text AS a, \(some)::int AS b, NULL::uuid AS c")[0]
        #expect(row.isNull("a"))
        #expect(!row.isNull("b"))
        #expect(try row.decodeIfPresent("a", as: String.self) == nil)
        #expect(try row.decodeIfPresent("b", as: Int.self) == 5)
        #expect(try row.decode("c", as: UUID?.self) == nil)
        #expect(try row.decodeIfPresent(0, as: String.self) == nil)
        #expect(row.text("a") == nil)

        let error = #expect(throws: PostgresError.self) { try row.decode("a", as: String.self) }
        #expect(error?.code == .decoding)
        #expect(error?.message.contains("\"a\"") == true)
        let missing = #expect(throws: PostgresError.self) { try row.decode("nope", as: Int.self) }
        #expect(missing?.message.contains("nope") == true)

        let table = TestDatabase.uniqueName("nulls")
        try db.execute("CREATE TEMP TABLE \(unsafe: table) (a text, b int, c timestamptz)")
        let noDate: Date? = nil
        try db.execute("INSERT INTO \(unsafe: table) VALUES (\(none), \(some), \(noDate))")
        let stored = try db.query("SELECT a, b, c FROM \(unsafe: table)")[0]
        #expect(stored.isNull("a") && stored.isNull("c"))
        #expect(try stored.decode("b", as: Int.self) == 5)
    }

    @Test func decodeErrorsNameTheColumn() throws {
        let db = try TestDatabase.connect()
        let row = try db.query("SELECT 'abc' AS word")[0]
        let error = #expect(throws: PostgresError.self) { try row.decode("word", as: Int.self) }
        #expect(error?.code == .decoding)
        #expect(error?.message.contains("word") == true)
        #expect(try row.decode(0, as: String.self) == "abc")
        #expect(throws: PostgresError.self) { try row.decode(3, as: String.self) }
    }

    @Test func resultsShape() throws {
        let db = try TestDatabase.connect()
        let result = try db.query("SELECT g AS n, g * 2 AS double FROM generate_series(1, 1000) AS g")
        #expect(result.count == 1000)
        #expect(result.columns == ["n", "double"])
        #expect(result.affectedRows == 1000)
        let sum = try result.reduce(0) { $0 + (try $1.decode("double", as: Int.self)) }
        #expect(sum == 1_001_000)
        #expect(try result.last?.decode("n", as: Int.self) == 1000)

        let table = TestDatabase.uniqueName("shape")
        #expect(try db.execute("CREATE TEMP TABLE \(unsafe: table) (n int)") == 0)
        #expect(try db.execute("INSERT INTO \(unsafe: table) SELECT generate_series(1, 5)") == 5)
        #expect(try db.execute("UPDATE \(unsafe: table) SET n = n + 1 WHERE n > \(2)") == 3)
        #expect(try db.execute("DELETE FROM \(unsafe: table)") == 5)
        let empty = try db.query("SELECT n FROM \(unsafe: table)")
        #expect(empty.isEmpty && empty.columns == ["n"])
    }
}
