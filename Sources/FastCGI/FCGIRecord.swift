/// A FastCGI record type. A struct rather than an enum so that types this side does not know can
/// still be decoded and answered with `UNKNOWN_TYPE`.
public struct FCGIRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let beginRequest = FCGIRecordType(rawValue: 1)
    public static let abortRequest = FCGIRecordType(rawValue: 2)
    public static let endRequest = FCGIRecordType(rawValue: 3)
    public static let params = FCGIRecordType(rawValue: 4)
    public static let stdin = FCGIRecordType(rawValue: 5)
    public static let stdout = FCGIRecordType(rawValue: 6)
    public static let stderr = FCGIRecordType(rawValue: 7)
    public static let data = FCGIRecordType(rawValue: 8)
    public static let getValues = FCGIRecordType(rawValue: 9)
    public static let getValuesResult = FCGIRecordType(rawValue: 10)
    public static let unknownType = FCGIRecordType(rawValue: 11)

    public var description: String {
        let names = ["", "BEGIN_REQUEST", "ABORT_REQUEST", "END_REQUEST", "PARAMS", "STDIN", "STDOUT", "STDERR",
                     "DATA", "GET_VALUES", "GET_VALUES_RESULT", "UNKNOWN_TYPE"]
        return (1...11).contains(rawValue) ? names[Int(rawValue)] : "type \(rawValue)"
    }
}

/// One FastCGI 1.0 record: an 8-byte header, the content and padding.
public struct FCGIRecord: Equatable, Sendable {
    /// The only protocol version there is.
    public static let version: UInt8 = 1
    public static let headerLength = 8
    /// The most content one record can carry (the length field is 16 bits).
    public static let maxContentLength = 65_535

    public var type: FCGIRecordType
    /// 0 for management records.
    public var requestId: UInt16
    public var content: [UInt8]
    /// Padding bytes to send after the content; decoding keeps the count it read.
    public var paddingLength: UInt8

    /// A record; by default padded so the whole record is a multiple of 8 bytes, as the spec recommends.
    public init(type: FCGIRecordType, requestId: UInt16, content: [UInt8] = [], paddingLength: UInt8? = nil) {
        precondition(content.count <= Self.maxContentLength, "a FastCGI record carries at most 65535 bytes")
        self.type = type
        self.requestId = requestId
        self.content = content
        self.paddingLength = paddingLength ?? UInt8((8 - content.count % 8) % 8)
    }

    /// The record as bytes on the wire.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// Appends the record's bytes to `out`.
    public func encode(into out: inout [UInt8]) {
        Self.encode(type: type, requestId: requestId, content: content[...], paddingLength: paddingLength, into: &out)
    }

    /// Appends one record built from a slice, so large outputs are split without copying twice.
    public static func encode(type: FCGIRecordType, requestId: UInt16, content: ArraySlice<UInt8>,
                              paddingLength: UInt8? = nil, into out: inout [UInt8]) {
        precondition(content.count <= maxContentLength, "a FastCGI record carries at most 65535 bytes")
        let padding = paddingLength ?? UInt8((8 - content.count % 8) % 8)
        out.reserveCapacity(out.count + headerLength + content.count + Int(padding))
        out.append(version)
        out.append(type.rawValue)
        out.append(UInt8(requestId >> 8))
        out.append(UInt8(requestId & 0xFF))
        out.append(UInt8(content.count >> 8))
        out.append(UInt8(content.count & 0xFF))
        out.append(padding)
        out.append(0)
        out.append(contentsOf: content)
        out.append(contentsOf: repeatElement(0, count: Int(padding)))
    }

    /// Appends `bytes` as records of `type` of at most 65,535 bytes each (none for empty input).
    public static func encodeStream(_ bytes: [UInt8], type: FCGIRecordType, requestId: UInt16, into out: inout [UInt8]) {
        var start = 0
        while start < bytes.count {
            let end = min(start + maxContentLength, bytes.count)
            encode(type: type, requestId: requestId, content: bytes[start..<end], into: &out)
            start = end
        }
    }

    /// The fixed part of a record as read from the wire.
    public struct Header: Equatable, Sendable {
        public var version: UInt8
        public var type: FCGIRecordType
        public var requestId: UInt16
        public var contentLength: Int
        public var paddingLength: Int

        /// Content plus padding: how many bytes follow the header.
        public var bodyLength: Int { contentLength + paddingLength }

        /// Decodes a header from the first 8 bytes of `bytes`; a version other than 1 is malformed.
        public init(decoding bytes: ArraySlice<UInt8>) throws {
            guard bytes.count >= FCGIRecord.headerLength else {
                throw FCGIError(.malformedRecord, "a record header needs 8 bytes, got \(bytes.count)")
            }
            let b = bytes.startIndex
            version = bytes[b]
            guard version == FCGIRecord.version else {
                throw FCGIError(.malformedRecord, "unsupported FastCGI version \(version)")
            }
            type = FCGIRecordType(rawValue: bytes[b + 1])
            requestId = UInt16(bytes[b + 2]) << 8 | UInt16(bytes[b + 3])
            contentLength = Int(bytes[b + 4]) << 8 | Int(bytes[b + 5])
            paddingLength = Int(bytes[b + 6])
        }
    }

    /// Decodes one whole record from the front of `bytes`: the record and how many bytes it took,
    /// or nil when more bytes are needed.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws -> (record: FCGIRecord, consumed: Int)? {
        guard bytes.count >= headerLength else { return nil }
        let header = try Header(decoding: bytes)
        let total = headerLength + header.bodyLength
        guard bytes.count >= total else { return nil }
        let start = bytes.startIndex + headerLength
        let record = FCGIRecord(type: header.type, requestId: header.requestId,
                                content: Array(bytes[start..<start + header.contentLength]),
                                paddingLength: UInt8(header.paddingLength))
        return (record, total)
    }
}
