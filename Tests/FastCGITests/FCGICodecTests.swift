@testable import FastCGI
import Testing

struct FCGICodecTests {
    struct RecordCase: CustomTestStringConvertible, Sendable {
        var type: FCGIRecordType
        var id: UInt16
        var length: Int
        var expectedPadding: UInt8
        var testDescription: String { "\(type) id \(id) length \(length)" }
    }

    @Test(arguments: [
        RecordCase(type: .params, id: 1, length: 0, expectedPadding: 0),
        RecordCase(type: .stdin, id: 2, length: 1, expectedPadding: 7),
        RecordCase(type: .stdout, id: 300, length: 8, expectedPadding: 0),
        RecordCase(type: .stderr, id: 65_535, length: 13, expectedPadding: 3),
        RecordCase(type: .data, id: 7, length: 65_535, expectedPadding: 1),
        RecordCase(type: FCGIRecordType(rawValue: 200), id: 0, length: 5, expectedPadding: 3),
    ])
    func recordRoundTrip(_ c: RecordCase) throws {
        let content = (0..<c.length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let record = FCGIRecord(type: c.type, requestId: c.id, content: content)
        #expect(record.paddingLength == c.expectedPadding)
        let bytes = record.encoded()
        #expect(bytes.count == 8 + c.length + Int(c.expectedPadding))
        #expect(bytes.count % 8 == 0)
        #expect(Array(bytes[0..<8]) == [1, c.type.rawValue, UInt8(c.id >> 8), UInt8(c.id & 0xFF),
                                        UInt8(c.length >> 8), UInt8(c.length & 0xFF), c.expectedPadding, 0])
        let (decoded, consumed) = try #require(try FCGIRecord.decode(bytes[...]))
        #expect(decoded == record)
        #expect(consumed == bytes.count)
        // One byte short of the whole record is "need more", not an error.
        #expect(try FCGIRecord.decode(bytes.dropLast()) == nil)
    }

    @Test func explicitPaddingIsSentAndSkipped() throws {
        let record = FCGIRecord(type: .stdin, requestId: 9, content: [1, 2, 3], paddingLength: 200)
        var bytes = record.encoded()
        #expect(bytes.count == 8 + 3 + 200)
        bytes += FCGIRecord(type: .stdin, requestId: 9).encoded()
        let (first, used) = try #require(try FCGIRecord.decode(bytes[...]))
        #expect(first.content == [1, 2, 3])
        let (second, _) = try #require(try FCGIRecord.decode(bytes[used...]))
        #expect(second.content.isEmpty && second.requestId == 9)
    }

    @Test(arguments: [[UInt8]([2, 1, 0, 1, 0, 0, 0, 0]), [0, 6, 0, 1, 0, 0, 0, 0], Array("GET / HTTP/1.1\r\n".utf8)])
    func badVersionIsMalformed(_ bytes: [UInt8]) {
        #expect(throws: FCGIError.self) { try FCGIRecord.decode(bytes[...]) }
    }

    @Test func beginAndEndBodies() throws {
        let begin = FCGIRecord.beginRequest(id: 5, keepConnection: true)
        #expect(begin.content == [0, 1, 1, 0, 0, 0, 0, 0])
        let parsed = try FCGIBeginRequest(decoding: begin.content)
        #expect(parsed.role == .responder && parsed.keepConnection)
        #expect(throws: FCGIError.self) { try FCGIBeginRequest(decoding: [0, 1, 1]) }

        let end = FCGIRecord.endRequest(id: 5, appStatus: 0x0102_0304, protocolStatus: .cantMultiplexConnection)
        #expect(end.content == [1, 2, 3, 4, 1, 0, 0, 0])
        #expect(try FCGIEndRequest(decoding: end.content) == FCGIEndRequest(appStatus: 0x0102_0304, protocolStatus: .cantMultiplexConnection))
        #expect(FCGIRecord.unknownType(FCGIRecordType(rawValue: 42)).content == [42, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test(arguments: [0, 1, 65_535, 65_536, 200_000, (1 << 20) + 17])
    func streamsSplitIntoRecordsOfAtMost65535Bytes(_ size: Int) throws {
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
        var out: [UInt8] = []
        FCGIRecord.encodeStream(bytes, type: .stdout, requestId: 3, into: &out)
        var records: [FCGIRecord] = []
        var rest = out[...]
        while let (record, used) = try FCGIRecord.decode(rest) {
            records.append(record)
            rest = rest.dropFirst(used)
        }
        #expect(rest.isEmpty)
        #expect(records.count == (size + 65_534) / 65_535)
        #expect(records.allSatisfy { $0.content.count <= 65_535 && $0.type == .stdout && $0.requestId == 3 })
        #expect(records.flatMap(\.content) == bytes)
    }

    struct PairCase: CustomTestStringConvertible, Sendable {
        var nameLength: Int
        var valueLength: Int
        /// Bytes of the two length prefixes.
        var prefixBytes: Int
        var testDescription: String { "name \(nameLength), value \(valueLength)" }
    }

    @Test(arguments: [
        PairCase(nameLength: 0, valueLength: 0, prefixBytes: 2),
        PairCase(nameLength: 1, valueLength: 127, prefixBytes: 2),
        PairCase(nameLength: 127, valueLength: 128, prefixBytes: 5),
        PairCase(nameLength: 128, valueLength: 127, prefixBytes: 5),
        PairCase(nameLength: 128, valueLength: 128, prefixBytes: 8),
        PairCase(nameLength: 12, valueLength: 70_000, prefixBytes: 5),
        PairCase(nameLength: 300, valueLength: 1 << 20, prefixBytes: 8),
    ])
    func nameValuePairLengths(_ c: PairCase) throws {
        let name = [UInt8](repeating: 0x41, count: c.nameLength)
        let value = (0..<c.valueLength).map { UInt8(truncatingIfNeeded: $0) }
        let encoded = FCGINameValuePairs.encode([(name: name, value: value), (name: Array("X".utf8), value: [])])
        #expect(encoded.count == c.prefixBytes + c.nameLength + c.valueLength + 3)
        if c.nameLength >= 128 {
            let n = c.nameLength
            #expect(Array(encoded[0..<4]) == [0x80 | UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)])
        } else {
            #expect(encoded[0] == UInt8(c.nameLength))
        }
        let decoded = try FCGINameValuePairs.decode(encoded)
        #expect(decoded.count == 2)
        #expect(decoded[0].name == name && decoded[0].value == value)
        #expect(decoded[1].name == Array("X".utf8) && decoded[1].value.isEmpty)
    }

    @Test(arguments: [[UInt8]([5]), [1, 5, 65], [0x80, 0, 0], [0x80, 0, 0, 9, 0, 65], [1, 0x80, 0, 1, 0, 65, 66]])
    func truncatedPairsAreMalformed(_ bytes: [UInt8]) {
        #expect(throws: FCGIError.self) { try FCGINameValuePairs.decode(bytes) }
    }

    @Test func stringPairsKeepTheLastOfARepeatedName() throws {
        let encoded = FCGINameValuePairs.encode([("A", "1"), ("B", "é"), ("A", "2")])
        #expect(try FCGINameValuePairs.decodeStrings(encoded) == ["A": "2", "B": "é"])
    }
}
