@testable import Handlers
import Testing

/// The paging parameters every list function takes, and the errors that name them.
struct PageQueryTests {
    @Test(arguments: [
        ([:], nil, nil, nil),
        (["limit": "1", "before": "9"], 1, Int64(9), nil),
        (["limit": "200"], 200, nil, nil),
        (["limit": "0"], nil, nil, "limit"),
        (["limit": "201"], nil, nil, "limit"),
        (["limit": "ten"], nil, nil, "limit"),
        (["before": "0"], nil, nil, "before"),
        (["before": "-3"], nil, nil, "before"),
        (["before": "99999999999999999999"], nil, nil, "before"),
    ] as [([String: String], Int?, Int64?, String?)])
    func boundsAndErrors(_ query: [String: String], _ limit: Int?, _ before: Int64?, _ badField: String?) {
        do {
            let page = try PageQuery(query, cursorNoun: "job")
            #expect(badField == nil)
            #expect(page.limit == limit)
            #expect(page.before == before)
        } catch let error as APIError {
            #expect(error.details["field"] == .string(badField ?? "-"))
            #expect(error.status == 422)
            if badField == "before" { #expect(error.message == "before: must be a job id from nextCursor") }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
