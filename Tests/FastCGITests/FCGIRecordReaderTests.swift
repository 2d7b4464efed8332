import FastCGI
import Foundation
import Testing

/// `nextIfArrived`: a record is handed over only when all of it has arrived, never by waiting.
struct FCGIRecordReaderTests {
    @Test func aRecordIsHandedOverOnlyOnceWhole() throws {
        let (a, b) = try FCGISocket.pairDescriptors()
        let peer = FCGISocket(adopting: a)
        let reader = FCGIRecordReader(socket: FCGISocket(adopting: b))
        let bytes = FCGIRecord(type: .stdin, requestId: 7, content: Array("0123456789".utf8)).encoded()

        #expect(try reader.nextIfArrived() == nil)
        #expect(!reader.peerClosed)
        // The header and 3 of the 10 content bytes: not a record yet, and no wait for the rest.
        try peer.write(Array(bytes.prefix(8 + 3)))
        #expect(try reader.nextIfArrived() == nil)
        #expect(reader.hasBufferedBytes)
        try peer.write(Array(bytes.dropFirst(8 + 3)))
        let record = try #require(try reader.nextIfArrived())
        #expect(record.requestId == 7)
        #expect(record.content == Array("0123456789".utf8))
        #expect(!reader.hasBufferedBytes)

        peer.close()
        #expect(try reader.nextIfArrived() == nil)
        #expect(reader.peerClosed)
    }

    @Test func aPeerThatClosesMidRecordIsAnError() throws {
        let (a, b) = try FCGISocket.pairDescriptors()
        let peer = FCGISocket(adopting: a)
        let reader = FCGIRecordReader(socket: FCGISocket(adopting: b))
        try peer.write(Array(FCGIRecord(type: .stdin, requestId: 1, content: [1, 2, 3, 4]).encoded().prefix(10)))
        #expect(try reader.nextIfArrived() == nil)
        peer.close()
        #expect(throws: FCGIError.self) { try reader.nextIfArrived() }
    }
}
