import FoundationEssentials
import JobQueue

/// Request JSON decoding as enqueue does it: the strict parser, then a job request (or a batch)
/// from the tree. Whatever parses must also print and parse back to the same tree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let value = try? JSONParser.parse(Array(bytes)) else { return 0 }
    let text = value.jsonText
    guard let again = try? JSONParser.parse(Array(text.utf8)) else {
        preconditionFailure("printed JSON does not parse: \(text.prefix(200))")
    }
    precondition(again == value, "JSON did not round-trip: \(text.prefix(200))")
    _ = try? JobRequest(json: value)
    if case .array(let jobs)? = value["jobs"] {
        for (i, job) in jobs.enumerated() { _ = try? JobRequest(json: job, field: "jobs[\(i)]") }
    }
    return 0
}
