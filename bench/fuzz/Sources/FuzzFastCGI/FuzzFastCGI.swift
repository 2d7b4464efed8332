import FastCGI

/// Feeds arbitrary bytes to the FastCGI record parser the way a connection reads them: records
/// one after another from the front of a buffer, then each record's body by its type.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFastCGI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var rest = bytes[...]
    var params: [UInt8] = []
    while let (record, consumed) = (try? FCGIRecord.decode(rest)) ?? nil {
        precondition(consumed >= FCGIRecord.headerLength && consumed <= rest.count, "consumed \(consumed) of \(rest.count)")
        // What was decoded must encode back to the same record.
        precondition(record.encoded().count == FCGIRecord.headerLength + record.content.count + Int(record.paddingLength))
        rest = rest.dropFirst(consumed)
        switch record.type {
        case .beginRequest: _ = try? FCGIBeginRequest(decoding: record.content)
        case .endRequest: _ = try? FCGIEndRequest(decoding: record.content)
        case .params, .getValues:
            params += record.content
            if let strings = try? FCGINameValuePairs.decodeStrings(params) {
                let p = FCGIParams(strings)
                _ = p.contentLength
                _ = p.contentLengthIsInvalid
            }
            if let pairs = try? FCGINameValuePairs.decode(record.content) {
                // Pairs that decoded must survive a round trip.
                let again = try? FCGINameValuePairs.decode(FCGINameValuePairs.encode(pairs))
                precondition(again.map { $0.count == pairs.count } ?? false, "name-value pairs did not round-trip")
            }
        case .stdout:
            _ = try? FCGIResponse(parsingCGI: record.content)
        default:
            break
        }
    }
    return 0
}
