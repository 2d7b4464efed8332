/// The rows of one statement, copied out of libpq (the PGresult is already freed).
public struct QueryResult: RandomAccessCollection, Sendable {
    let storage: ResultStorage

    /// Rows affected (PQcmdTuples): INSERT/UPDATE/DELETE/MERGE/SELECT count; 0 when not applicable.
    public let affectedRows: Int
    /// Column names in result order.
    public let columns: [String]

    /// The command tag (PQcmdStatus), e.g. "INSERT 0 1" or "ROLLBACK".
    let commandTag: String

    init(storage: ResultStorage, affectedRows: Int, commandTag: String) {
        self.storage = storage
        self.affectedRows = affectedRows
        self.columns = storage.columns
        self.commandTag = commandTag
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.rowCount }

    public subscript(i: Int) -> Row {
        precondition(i >= 0 && i < storage.rowCount, "row index \(i) out of range")
        return Row(storage: storage, row: i)
    }
}

/// Values of a whole result in one flat array, plus a name index built once and shared by
/// every row, so decoding by column name costs one dictionary lookup.
final class ResultStorage: Sendable {
    let columns: [String]
    let columnIndex: [String: Int]
    let values: [String?]
    let rowCount: Int

    init(columns: [String], values: [String?], rowCount: Int) {
        self.columns = columns
        // With duplicate names (e.g. two `id`s from a join) the first one wins, as in psql's
        // left-to-right reading; select with aliases to reach the others.
        var index: [String: Int] = [:]
        for (i, name) in columns.enumerated() where index[name] == nil { index[name] = i }
        self.columnIndex = index
        self.values = values
        self.rowCount = rowCount
    }

    static let empty = ResultStorage(columns: [], values: [], rowCount: 0)
}

/// One result row. Values are text as the server sent them; `decode` converts them.
public struct Row: Sendable {
    let storage: ResultStorage
    let row: Int

    /// Column names, in result order.
    public var columns: [String] { storage.columns }

    /// Decodes a non-NULL column. NULL or a missing column throws `PostgresError(.decoding)`
    /// naming the column; decode as an optional type (or use `decodeIfPresent`) to allow NULL.
    public func decode<T: PostgresDecodable>(_ column: String, as: T.Type = T.self) throws -> T {
        try decodeValue(at: index(of: column), name: column)
    }

    /// Decodes a column that may be NULL.
    public func decodeIfPresent<T: PostgresDecodable>(_ column: String, as: T.Type = T.self) throws -> T? {
        let i = try index(of: column)
        guard let text = value(at: i) else { return nil }
        return try convert(text, name: column)
    }

    /// Decodes a column by position (0-based).
    public func decode<T: PostgresDecodable>(_ index: Int, as: T.Type = T.self) throws -> T {
        guard index >= 0 && index < storage.columns.count else {
            throw PostgresError(.decoding, message: "no column at index \(index) (result has \(storage.columns.count))")
        }
        return try decodeValue(at: index, name: storage.columns[index])
    }

    /// Decodes a column by position (0-based) that may be NULL.
    public func decodeIfPresent<T: PostgresDecodable>(_ index: Int, as: T.Type = T.self) throws -> T? {
        guard index >= 0 && index < storage.columns.count else {
            throw PostgresError(.decoding, message: "no column at index \(index) (result has \(storage.columns.count))")
        }
        guard let text = value(at: index) else { return nil }
        return try convert(text, name: storage.columns[index])
    }

    /// True if the column is NULL (or does not exist).
    public func isNull(_ column: String) -> Bool {
        text(column) == nil
    }

    /// The raw text value, nil for NULL or a missing column.
    public func text(_ column: String) -> String? {
        guard let i = storage.columnIndex[column] else { return nil }
        return value(at: i)
    }

    private func value(at column: Int) -> String? {
        storage.values[row * storage.columns.count + column]
    }

    private func index(of column: String) throws -> Int {
        guard let i = storage.columnIndex[column] else {
            throw PostgresError(.decoding, message: "no column named \"\(column)\" (columns: \(storage.columns.joined(separator: ", ")))")
        }
        return i
    }

    private func decodeValue<T: PostgresDecodable>(at i: Int, name: String) throws -> T {
        guard let text = value(at: i) else {
            // `decode("x", as: Int?.self)` is allowed and means "NULL is fine".
            if let nullable = T.self as? any PostgresNullable.Type, let null = nullable.postgresNull as? T {
                return null
            }
            throw PostgresError(.decoding, message: "column \"\(name)\" is NULL; decode it as \(T.self)? or with decodeIfPresent")
        }
        return try convert(text, name: name)
    }

    private func convert<T: PostgresDecodable>(_ text: String, name: String) throws -> T {
        do {
            return try T(postgresText: text)
        } catch let error as PostgresError {
            throw PostgresError(
                .decoding, message: "column \"\(name)\": \(error.message)", sqlState: error.sqlState,
                detail: error.detail, constraint: error.constraint)
        } catch {
            throw PostgresError(.decoding, message: "column \"\(name)\": \(error)")
        }
    }
}
