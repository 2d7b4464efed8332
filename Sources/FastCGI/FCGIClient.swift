/// A small blocking FastCGI client, the web server's side of the protocol: for tests, probes and
/// health checks against a running responder.
public final class FCGIClient {
    public let socket: FCGISocket
    let reader: FCGIRecordReader
    /// The most one read waits for the responder.
    public var timeout: Double

    public init(socket: FCGISocket, timeout: Double = 30) {
        self.socket = socket
        self.reader = FCGIRecordReader(socket: socket)
        self.timeout = timeout
    }

    public convenience init(connectingTo address: FCGIListenAddress, timeout: Double = 30) throws {
        self.init(socket: try FCGISocket.connect(to: address, timeout: timeout), timeout: timeout)
    }

    /// What came back for one request.
    public struct Response {
        public var stdout: [UInt8] = []
        public var stderr: [UInt8] = []
        public var end: FCGIEndRequest
        /// How many STDOUT records carried the output (the terminator not counted).
        public var stdoutRecords = 0
        /// The CGI response parsed from STDOUT, when it is one.
        public var http: FCGIResponse? { try? FCGIResponse(parsingCGI: stdout) }
    }

    /// Sends raw bytes, e.g. a deliberately malformed record.
    public func send(raw bytes: [UInt8]) throws { try socket.write(bytes) }

    /// Sends records in one write.
    public func send(_ records: [FCGIRecord]) throws {
        var out: [UInt8] = []
        for r in records { r.encode(into: &out) }
        try socket.write(out)
    }

    /// The next record, or nil when the responder closed the connection.
    public func readRecord() throws -> FCGIRecord? { try reader.next(timeout: timeout) }

    /// The records of a whole request: BEGIN_REQUEST, PARAMS and STDIN in chunks of at most the
    /// given sizes, each stream with its empty terminator.
    public static func requestRecords(id: UInt16, params: [(String, String)], stdin: [UInt8] = [], keepConnection: Bool = true,
                                      paramsChunk: Int = FCGIRecord.maxContentLength, stdinChunk: Int = FCGIRecord.maxContentLength,
                                      terminateStdin: Bool = true) -> [FCGIRecord] {
        var records = [FCGIRecord.beginRequest(id: id, keepConnection: keepConnection)]
        let encoded = FCGINameValuePairs.encode(params)
        for chunk in chunks(encoded, size: paramsChunk) { records.append(FCGIRecord(type: .params, requestId: id, content: chunk)) }
        records.append(FCGIRecord(type: .params, requestId: id))
        for chunk in chunks(stdin, size: stdinChunk) { records.append(FCGIRecord(type: .stdin, requestId: id, content: chunk)) }
        if terminateStdin { records.append(FCGIRecord(type: .stdin, requestId: id)) }
        return records
    }

    static func chunks(_ bytes: [UInt8], size: Int) -> [[UInt8]] {
        let size = max(1, min(size, FCGIRecord.maxContentLength))
        return stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
    }

    /// Sends a whole request and reads its response.
    public func request(id: UInt16 = 1, params: [(String, String)], stdin: [UInt8] = [], keepConnection: Bool = true,
                        paramsChunk: Int = FCGIRecord.maxContentLength, stdinChunk: Int = FCGIRecord.maxContentLength) throws -> Response {
        try send(Self.requestRecords(id: id, params: params, stdin: stdin, keepConnection: keepConnection,
                                     paramsChunk: paramsChunk, stdinChunk: stdinChunk))
        return try readResponse(id: id)
    }

    /// Reads records until the END_REQUEST of `id`. Records of other ids and management records
    /// are skipped.
    public func readResponse(id: UInt16) throws -> Response {
        var stdout: [UInt8] = [], stderr: [UInt8] = []
        var records = 0
        while let record = try readRecord() {
            guard record.requestId == id else { continue }
            switch record.type {
            case .stdout:
                stdout += record.content
                if !record.content.isEmpty { records += 1 }
            case .stderr: stderr += record.content
            case .endRequest:
                return Response(stdout: stdout, stderr: stderr, end: try FCGIEndRequest(decoding: record.content), stdoutRecords: records)
            default: continue
            }
        }
        throw FCGIError(.peerClosed, "the responder closed the connection before END_REQUEST")
    }

    /// Asks `FCGI_GET_VALUES` for `names` and returns the answer.
    public func getValues(_ names: [String]) throws -> [String: String] {
        try send([FCGIRecord(type: .getValues, requestId: 0, content: FCGINameValuePairs.encode(names.map { ($0, "") }))])
        while let record = try readRecord() {
            if record.type == .getValuesResult { return try FCGINameValuePairs.decodeStrings(record.content) }
        }
        throw FCGIError(.peerClosed, "the responder closed the connection before GET_VALUES_RESULT")
    }
}

extension FCGIResponse {
    /// Parses a CGI response: header lines (`Status: 200 OK` sets the status, default 200), a
    /// blank line, the body.
    public init(parsingCGI bytes: [UInt8]) throws {
        var end: Int?
        var separatorLength = 4
        for i in 0..<bytes.count {
            if bytes[i...].starts(with: [13, 10, 13, 10]) { end = i; separatorLength = 4; break }
            if bytes[i...].starts(with: [10, 10]) { end = i; separatorLength = 2; break }
        }
        guard let end else { throw FCGIError(.malformedRecord, "a CGI response needs a blank line after its headers") }
        var status = 200
        var headers: [(String, String)] = []
        for line in String(decoding: bytes[..<end], as: UTF8.self).split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            guard let colon = line.firstIndex(of: ":") else { throw FCGIError(.malformedRecord, "a CGI header line has no colon") }
            let name = String(line[..<colon]), value = String(line[line.index(after: colon)...]).trimmingSpaces
            if name.lowercased() == "status" {
                status = Int(value.prefix(3)) ?? 0
            } else {
                headers.append((name, value))
            }
        }
        self.init(status: status, headers: headers, body: Array(bytes[(end + separatorLength)...]))
    }

    /// A header's value by case-insensitive name.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}
