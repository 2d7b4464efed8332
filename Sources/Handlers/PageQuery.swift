/// The keyset-paging parameters every tenant list function takes: `limit` (1 to 200) and
/// `before`, an id from the previous page's `nextCursor`. One parser, so the lists agree on
/// their bounds and their errors.
struct PageQuery {
    var limit: Int?
    var before: Int64?

    /// `cursorNoun` names what the ids are in the error ("job", "request").
    init(_ query: [String: String], cursorNoun: String) throws {
        if let l = query["limit"] {
            guard let limit = Int(l), (1...200).contains(limit) else {
                throw APIError(.invalidInput, "limit: must be between 1 and 200", details: ["field": "limit"])
            }
            self.limit = limit
        }
        if let b = query["before"] {
            guard let before = Int64(b), before > 0 else {
                throw APIError(.invalidInput, "before: must be a \(cursorNoun) id from nextCursor", details: ["field": "before"])
            }
            self.before = before
        }
    }
}
