import Foundation
import Postgres
import Testing

@Suite struct ArrayTests {
    static let tricky = [
        "", " ", "  leading and trailing  ", "a,b", "{braces}", "\"quoted\"", "back\\slash", "\\", "\"",
        "NULL", "null", "emoji 🚀", "e\u{301}", "漢字", "new\nline", "semi;colon", "tab\there",
    ]

    @Test func trickyStringsRoundTrip() throws {
        let db = try TestDatabase.connect()
        let values = Self.tricky
        let selected = try db.query("SELECT \(values)::text[] AS v, cardinality(\(values)::text[]) AS n")[0]
        #expect(try selected.decode("n", as: Int.self) == values.count)
        #expect(try selected.decode("v", as: [String].self) == values)

        let table = TestDatabase.uniqueName("arrays")
        try db.execute("CREATE TEMP TABLE \(unsafe: table) (v text[])")
        try db.execute("INSERT INTO \(unsafe: table) VALUES (\(values))")
        let stored = try db.query("SELECT v, v[4] AS fourth FROM \(unsafe: table)")[0]
        #expect(try stored.decode("v", as: [String].self) == values)
        #expect(try stored.decode("fourth", as: String.self) == "a,b")
    }

    @Test func nullElements() throws {
        let db = try TestDatabase.connect()
        let values: [String?] = ["a", nil, "NULL", nil, ""]
        let row = try db.query("SELECT \(values)::text[] AS v, array_position(\(values)::text[], NULL) AS first_null")[0]
        #expect(try row.decode("v", as: [String?].self) == values)
        #expect(try row.decode("first_null", as: Int.self) == 2)
        // A NULL element cannot silently become something in a non-optional array.
        let error = #expect(throws: PostgresError.self) { try row.decode("v", as: [String].self) }
        #expect(error?.code == .decoding)

        let ints: [Int?] = [1, nil, 3]
        #expect(try db.query("SELECT \(ints)::int[] AS v")[0].decode("v", as: [Int?].self) == ints)
    }

    @Test func emptyArrays() throws {
        let db = try TestDatabase.connect()
        let empty: [Int] = []
        let row = try db.query("SELECT \(empty)::int[] AS v, '{}'::text[] AS t, cardinality(\(empty)::int[]) AS n")[0]
        #expect(try row.decode("v", as: [Int].self) == [])
        #expect(try row.decode("t", as: [String].self) == [])
        #expect(try row.decode("n", as: Int.self) == 0)
        #expect(row.text("v") == "{}")
    }

    @Test func typedArrays() throws {
        let db = try TestDatabase.connect()
        let ints = [1, -2, Int.max]
        #expect(try db.query("SELECT \(ints)::int8[] AS v")[0].decode("v", as: [Int].self) == ints)
        let bools = [true, false, true]
        #expect(try db.query("SELECT \(bools)::bool[] AS v")[0].decode("v", as: [Bool].self) == bools)
        let doubles: [Double] = [1.5, -.infinity, 0]
        #expect(try db.query("SELECT \(doubles)::float8[] AS v")[0].decode("v", as: [Double].self) == doubles)
        let ids = [UUID(), UUID()]
        #expect(try db.query("SELECT \(ids)::uuid[] AS v")[0].decode("v", as: [UUID].self) == ids)
        let blobs = [Data([0, 1, 0xff]), Data()]
        #expect(try db.query("SELECT \(blobs)::bytea[] AS v")[0].decode("v", as: [Data].self) == blobs)
        let docs = [PostgresJSON(text: "{\"a\": \"x,\\\"y\\\"\"}"), PostgresJSON(text: "[1, 2]")]
        let decodedDocs = try db.query("SELECT \(docs)::jsonb[] AS v")[0].decode("v", as: [PostgresJSON].self)
        #expect(decodedDocs.map { $0.text } == ["{\"a\": \"x,\\\"y\\\"\"}", "[1, 2]"])
        let dates = [Date(timeIntervalSince1970: 1_700_000_000.25), Date(timeIntervalSince1970: 0)]
        #expect(try db.query("SELECT \(dates)::timestamptz[] AS v")[0].decode("v", as: [Date].self) == dates)
    }

    @Test func serverArrayOutputIsParsed() throws {
        let db = try TestDatabase.connect()
        let row = try db.query("""
            SELECT ARRAY['a b', 'c"d', 'e\\f', '', NULL, 'NULL', 'x,y', '{z}'] AS v,
                   '[0:2]={7,8,9}'::int[] AS shifted
            """)[0]
        #expect(try row.decode("v", as: [String?].self) == ["a b", "c\"d", "e\\f", "", nil, "NULL", "x,y", "{z}"])
        #expect(try row.decode("shifted", as: [Int].self) == [7, 8, 9])
        #expect(throws: PostgresError.self) { try db.query("SELECT '{{1,2},{3,4}}'::int[] AS v")[0].decode("v", as: [Int].self) }
    }

    @Test func literalParsingEdgeCases() throws {
        #expect(try [String](postgresText: "{ a , b }") == ["a", "b"])
        #expect(try [String](postgresText: "{a\\ ,\"\"}") == ["a ", ""])
        #expect(try [String?](postgresText: "{null,NuLl,\"null\"}") == [nil, nil, "null"])
        #expect(try [String](postgresText: "{}") == [])
        for malformed in ["", "{", "{a", "{\"a}", "a,b", "{a}x", "{a,}"] {
            #expect(throws: PostgresError.self, "\(malformed)") { try [String](postgresText: malformed) }
        }
        #expect([String?]( ["a", nil]).postgresText == "{\"a\",NULL}")
        #expect(["x\"y\\z"].postgresText == "{\"x\\\"y\\\\z\"}")
    }
}
