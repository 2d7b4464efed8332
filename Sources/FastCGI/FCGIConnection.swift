import Dispatch

/// One FastCGI connection from a web server, served synchronously one record at a time.
///
/// It answers one request at a time (a second request id gets `CANT_MPX_CONN`), handles the
/// management records, and never buffers a body it has refused: the rest of that request's STDIN
/// is read and dropped so a kept connection stays usable. Any protocol error throws; the caller
/// closes the connection, and the process lives on.
public final class FCGIConnection {
    enum State {
        case idle
        case params(id: UInt16, keep: Bool, bytes: [UInt8])
        case stdin(id: UInt16, keep: Bool, params: FCGIParams, body: [UInt8], limit: Int)
        /// Answered early; the rest of this request's STDIN is dropped.
        case draining(id: UInt16)
        /// Read whole and held for `answer` (when `defersAnswers`).
        case awaitingAnswer(id: UInt16, keep: Bool, request: FCGIRequest)
    }

    public let socket: FCGISocket
    let reader: FCGIRecordReader
    let responder: any FCGIResponder
    let options: FCGIConnectionOptions
    var state = State.idle
    /// Between `requestDidBegin` and `requestDidEnd`.
    var requestOpen = false
    /// When the open request began, and its params once they are in.
    var beganNs: UInt64 = 0
    var openParams: FCGIParams?
    /// When true, a request whose input is complete is not answered at once: it waits in
    /// `awaitingAnswer` until the caller passes its response to `answer`. A serve loop uses this
    /// to answer the requests that are ready on several connections together.
    public var defersAnswers = false

    public init(socket: FCGISocket, responder: any FCGIResponder, options: FCGIConnectionOptions = FCGIConnectionOptions()) {
        self.socket = socket
        self.reader = FCGIRecordReader(socket: socket)
        self.responder = responder
        self.options = options
    }

    deinit { close() }

    public var isOpen: Bool { !socket.isClosed }

    /// True while a request is between `BEGIN_REQUEST` and the end of its input.
    public var isInFlight: Bool {
        switch state {
        case .idle, .awaitingAnswer: return false
        default: return true
        }
    }

    /// The complete request held for `answer`, if any.
    public var awaitingAnswer: FCGIRequest? {
        if case .awaitingAnswer(_, _, let request) = state { return request }
        return nil
    }

    /// Sends the response to the request held in `awaitingAnswer` and ends it. Returns false
    /// when there was none, or when sending failed (the connection is then closed).
    @discardableResult
    public func answer(_ response: FCGIResponse) -> Bool {
        guard case .awaitingAnswer(let id, let keep, let request) = state else { return false }
        do {
            try send(response, id: id, params: request.params)
            finish(keep: keep)
            return true
        } catch {
            report(error)
            close()
            return false
        }
    }

    /// True when a next record is already buffered, so the socket need not be polled.
    public var hasBufferedInput: Bool { reader.hasBufferedBytes }

    /// Closes the connection; a request still open counts as ended.
    public func close() {
        endRequest()
        state = .idle
        socket.close()
    }

    /// Serves requests until the peer closes or breaks the protocol; the number of requests ended.
    @discardableResult
    public func serve() -> Int {
        var ended = 0
        while isOpen {
            do {
                if try step() { ended += 1 }
                // Nobody else will answer a deferred request here.
                if let request = awaitingAnswer, answer(responder.respond(to: request)) { ended += 1 }
            } catch {
                report(error)
                close()
            }
        }
        return ended
    }

    /// Logs why a connection is being closed: the error only, never params or bodies.
    public func report(_ error: any Error) {
        if let e = error as? FCGIError, e.code == .peerClosed {
            options.logger.debug("FastCGI peer closed mid-request")
        } else {
            options.logger.warning("closing a FastCGI connection", metadata: ["error": "\(error)"])
        }
    }

    /// Reads and handles one record. Returns true when a request ended in this step (answered,
    /// refused or aborted). At EOF the connection is closed and `isOpen` turns false.
    public func step() throws -> Bool {
        guard isOpen else { return false }
        guard let record = try reader.next(timeout: options.readTimeout) else {
            close()
            return false
        }
        return try handle(record)
    }

    /// Like `step`, but never waits: it handles a record only if all of it has arrived. Returns
    /// nil when none has (yet); at EOF the connection is closed.
    public func stepIfArrived() throws -> Bool? {
        guard isOpen else { return nil }
        guard let record = try reader.nextIfArrived() else {
            if reader.peerClosed { close() }
            return nil
        }
        return try handle(record)
    }

    func handle(_ record: FCGIRecord) throws -> Bool {
        if record.requestId == 0 {
            try handleManagement(record)
            return false
        }
        switch record.type {
        case .beginRequest: return try begin(record)
        case .abortRequest: return try abort(record.requestId)
        case .params: return try params(record)
        case .stdin: return try stdin(record)
        case .data: return false
        case .endRequest, .stdout, .stderr, .getValues, .getValuesResult, .unknownType:
            throw FCGIError(.protocolViolation, "\(record.type) with request id \(record.requestId) is not sent to an application")
        default:
            throw FCGIError(.malformedRecord, "unknown record \(record.type) with request id \(record.requestId)")
        }
    }

    /// The id of the request in flight, if any (draining counts: its STDIN still belongs to it).
    var currentId: UInt16? {
        switch state {
        case .idle: return nil
        case .params(let id, _, _), .stdin(let id, _, _, _, _), .draining(let id), .awaitingAnswer(let id, _, _): return id
        }
    }

    func begin(_ record: FCGIRecord) throws -> Bool {
        let body = try FCGIBeginRequest(decoding: record.content)
        switch state {
        case .params(let id, _, _), .stdin(let id, _, _, _, _), .awaitingAnswer(let id, _, _):
            guard id != record.requestId else {
                throw FCGIError(.protocolViolation, "BEGIN_REQUEST for request \(id), which is already in flight")
            }
            try socket.write(FCGIRecord.endRequest(id: record.requestId, appStatus: 0, protocolStatus: .cantMultiplexConnection).encoded())
            return false
        case .idle, .draining:
            // A drained request already has its END_REQUEST: a new request simply supersedes it.
            state = .idle
            guard body.role == .responder else {
                try socket.write(FCGIRecord.endRequest(id: record.requestId, appStatus: 0, protocolStatus: .unknownRole).encoded())
                if !body.keepConnection { close() }
                return false
            }
            state = .params(id: record.requestId, keep: body.keepConnection, bytes: [])
            requestOpen = true
            beganNs = DispatchTime.now().uptimeNanoseconds
            openParams = nil
            responder.requestDidBegin()
            return false
        }
    }

    func abort(_ id: UInt16) throws -> Bool {
        switch state {
        case .params(id, let keep, _), .stdin(id, let keep, _, _, _):
            try socket.write(FCGIRecord.endRequest(id: id, appStatus: options.abortedAppStatus, protocolStatus: .requestComplete).encoded())
            finish(keep: keep)
            return true
        case .draining(id):
            // Already answered; the web server will send no more STDIN for it.
            state = .idle
            return false
        default:
            return false
        }
    }

    func endRequest() {
        guard requestOpen else { return }
        requestOpen = false
        let seconds = Double(DispatchTime.now().uptimeNanoseconds &- beganNs) / 1e9
        responder.requestDidEnd(FCGIEndedRequest(params: openParams, seconds: seconds))
        openParams = nil
    }

    /// After END_REQUEST: back to idle, or closed when the web server did not ask to keep it.
    func finish(keep: Bool) {
        state = .idle
        endRequest()
        if !keep { close() }
    }
}
