import FoundationEssentials

/// The state one HTTP transfer's callbacks fill in. libcurl calls back on the one thread
/// driving the transfer (`perform()`'s, or the transfer loop's), so no locking is needed.
final class HTTPTransfer {
    let limit: Int
    private(set) var body = Data()
    private(set) var headers: [(String, String)] = []
    /// Set when the body outgrew `limit` and the write callback aborted the transfer.
    private(set) var exceededLimit = false

    let abandonWhen: (@Sendable () -> Bool)?

    /// Keeps the start of a body that outgrows `limit` (instead of none of it).
    let keepsPrefix: Bool

    init(request: HTTPClientRequest) {
        self.limit = request.maxResponseBytes
        self.abandonWhen = request.abandonWhen
        self.keepsPrefix = request.truncatesBody
        self.allowAddress = request.allowAddress
    }

    let allowAddress: (@Sendable (IPAddress) -> Bool)?
    /// The addresses `allowAddress` refused, for the error that names them.
    private(set) var refusedAddresses: [IPAddress] = []

    /// CURLOPT_OPENSOCKETFUNCTION's question: may the transfer connect to `address`?
    func allows(_ address: IPAddress?) -> Bool {
        guard let allowAddress else { return true }
        guard let address, allowAddress(address) else {
            if let address { refusedAddresses.append(address) }
            return false
        }
        return true
    }

    /// CURLOPT_XFERINFOFUNCTION: non-zero makes libcurl stop with CURLE_ABORTED_BY_CALLBACK.
    func shouldAbandon() -> Int32 {
        abandonWhen?() == true ? 1 : 0
    }

    /// CURLOPT_WRITEFUNCTION: returning less than `count` makes libcurl stop with
    /// CURLE_WRITE_ERROR, which `HTTPClient` turns into `.tooLarge`.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard body.count + bytes.count <= limit else {
            if keepsPrefix { body.append(contentsOf: bytes.prefix(limit - body.count)) }
            exceededLimit = true
            return 0
        }
        body.append(contentsOf: bytes)
        return bytes.count
    }

    /// CURLOPT_HEADERFUNCTION: one complete header line per call, status lines included.
    /// Parsed on the bytes, so a line costs the two strings it yields and nothing else.
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) -> Int {
        let line = bytes.assumingMemoryBound(to: UInt8.self)
        var end = line.count
        while end > 0, line[end - 1] == UInt8(ascii: "\n") || line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        guard end > 0 else { return bytes.count }
        if end >= 5, line[0] == UInt8(ascii: "H"), line[1] == UInt8(ascii: "T"), line[2] == UInt8(ascii: "T"),
           line[3] == UInt8(ascii: "P"), line[4] == UInt8(ascii: "/") {
            // A new status line: interim (100) responses and redirect hops start over.
            headers.removeAll(keepingCapacity: true)
        } else if line[0] == UInt8(ascii: " ") || line[0] == UInt8(ascii: "\t") {
            // Obsolete line folding continues the previous value.
            if !headers.isEmpty {
                headers[headers.count - 1].1 += " " + Self.text(line, Self.trimmed(line, 0, end))
            }
        } else if let colon = line[0..<end].firstIndex(of: UInt8(ascii: ":")) {
            headers.append((Self.text(line, 0..<colon), Self.text(line, Self.trimmed(line, colon + 1, end))))
        }
        return bytes.count
    }

    /// `start..<end` without the spaces and tabs at either side.
    private static func trimmed(_ line: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Range<Int> {
        var (start, end) = (start, end)
        while start < end, line[start] == UInt8(ascii: " ") || line[start] == UInt8(ascii: "\t") { start += 1 }
        while end > start, line[end - 1] == UInt8(ascii: " ") || line[end - 1] == UInt8(ascii: "\t") { end -= 1 }
        return start..<end
    }

    private static func text(_ line: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: line[range]), as: UTF8.self)
    }
}
