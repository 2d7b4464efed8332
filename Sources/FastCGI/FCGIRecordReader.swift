/// Reads whole records from a socket through one buffer, so many tiny records cost few reads.
public final class FCGIRecordReader {
    public let socket: FCGISocket
    private var buffer: [UInt8] = []
    private var start = 0

    public init(socket: FCGISocket) {
        self.socket = socket
        buffer.reserveCapacity(65_536)
    }

    /// True when bytes of a next record are already buffered (so polling the socket would lie).
    public var hasBufferedBytes: Bool { start < buffer.count }

    /// True once a read found the peer gone (see `nextIfArrived`).
    public private(set) var peerClosed = false

    /// The next record if all of it has already arrived, without waiting; nil when it has not,
    /// or when the peer has closed (`peerClosed` then turns true; mid-record, it throws).
    public func nextIfArrived() throws -> FCGIRecord? {
        while true {
            if let record = try take() { return record }
            let n: Int
            do {
                n = try socket.read(appendingTo: &buffer, maxCount: 65_536, timeout: 0)
            } catch let error as FCGIError where error.code == .timeout {
                return nil
            }
            if n == 0 {
                if hasBufferedBytes { throw FCGIError(.peerClosed, "the peer closed the connection in the middle of a record") }
                peerClosed = true
                return nil
            }
        }
    }

    /// The next record; nil when the peer closed cleanly between records. A peer that closes in the
    /// middle of a record, stalls longer than `timeout` or sends a bad header throws.
    public func next(timeout: Double?) throws -> FCGIRecord? {
        while true {
            if let record = try take() { return record }
            let n = try socket.read(appendingTo: &buffer, maxCount: 65_536, timeout: timeout)
            if n == 0 {
                if hasBufferedBytes { throw FCGIError(.peerClosed, "the peer closed the connection in the middle of a record") }
                return nil
            }
        }
    }

    /// A whole buffered record, consumed; nil when the buffer holds less than one.
    private func take() throws -> FCGIRecord? {
        guard let (record, consumed) = try FCGIRecord.decode(buffer[start...]) else { return nil }
        start += consumed
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65_536 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        return record
    }
}
