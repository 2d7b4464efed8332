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
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) -> Int {
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "\n") || bytes[end - 1] == UInt8(ascii: "\r") {
            end -= 1
        }
        let line = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new status line: interim (100) responses and redirect hops start over.
            headers.removeAll()
        } else if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
            // Obsolete line folding continues the previous value.
            headers[headers.count - 1].1 += " " + line.trimmingWhitespace()
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            headers.append((name, value))
        }
        return bytes.count
    }
}
