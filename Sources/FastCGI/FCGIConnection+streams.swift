extension FCGIConnection {
    func params(_ record: FCGIRecord) throws -> Bool {
        guard case .params(let id, let keep, var bytes) = state, id == record.requestId else {
            if currentId == record.requestId {
                throw FCGIError(.protocolViolation, "PARAMS after the params of request \(record.requestId) ended")
            }
            return false // an inactive request id: ignored, as the spec asks
        }
        if !record.content.isEmpty {
            guard bytes.count + record.content.count <= options.maxParamsBytes else {
                throw FCGIError(.tooLarge, "the params of request \(id) exceed \(options.maxParamsBytes) bytes")
            }
            state = .idle // drop the reference so the append does not copy
            bytes.append(contentsOf: record.content)
            state = .params(id: id, keep: keep, bytes: bytes)
            return false
        }
        let params = FCGIParams(try FCGINameValuePairs.decodeStrings(bytes))
        openParams = params
        if params.contentLengthIsInvalid {
            try refuse(id: id, keep: keep, params: params, with: responder.reject(.invalidContentLength, params: params))
            return true
        }
        switch responder.admit(params) {
        case .reject(let response):
            try refuse(id: id, keep: keep, params: params, with: response)
            return true
        case .accept(let maxBodyBytes):
            if let declared = params.contentLength, declared > maxBodyBytes {
                try refuse(id: id, keep: keep, params: params, with: responder.reject(.bodyTooLarge(limit: maxBodyBytes), params: params))
                return true
            }
            let limit = params.contentLength.map { min(maxBodyBytes, $0 + options.contentLengthSlackBytes) } ?? maxBodyBytes
            state = .stdin(id: id, keep: keep, params: params, body: [], limit: limit)
            return false
        }
    }

    func stdin(_ record: FCGIRecord) throws -> Bool {
        switch state {
        case .stdin(let id, let keep, let params, var body, let limit) where id == record.requestId:
            if record.content.isEmpty {
                state = .idle
                // The spec asks a responder to compare STDIN with CONTENT_LENGTH and not act on a
                // short body: the client or the web server gave up partway.
                if let declared = params.contentLength, body.count < declared {
                    try send(responder.reject(.incompleteBody(expected: declared, received: body.count), params: params), id: id, params: params)
                    finish(keep: keep)
                    return true
                }
                let request = FCGIRequest(params: params, body: body)
                if defersAnswers {
                    state = .awaitingAnswer(id: id, keep: keep, request: request)
                    return false
                }
                try send(responder.respond(to: request), id: id, params: params)
                finish(keep: keep)
                return true
            }
            guard body.count + record.content.count <= limit else {
                try refuse(id: id, keep: keep, params: params, with: responder.reject(.bodyTooLarge(limit: limit), params: params))
                return true
            }
            state = .idle // drop the reference so the append does not copy
            body.append(contentsOf: record.content)
            state = .stdin(id: id, keep: keep, params: params, body: body, limit: limit)
            return false
        case .draining(let id) where id == record.requestId:
            if record.content.isEmpty { state = .idle }
            return false
        case .params(let id, _, _) where id == record.requestId:
            throw FCGIError(.protocolViolation, "STDIN before the params of request \(id) ended")
        default:
            return false // an inactive request id
        }
    }

    /// Answers without reading the body, then drops the rest of its STDIN (or closes).
    func refuse(id: UInt16, keep: Bool, params: FCGIParams, with response: FCGIResponse) throws {
        try send(response, id: id, params: params)
        finish(keep: keep)
        if keep { state = .draining(id: id) }
    }

    /// STDOUT (and STDERR) in records of at most 65,535 bytes, their empty terminators, END_REQUEST:
    /// one write.
    func send(_ response: FCGIResponse, id: UInt16, params: FCGIParams) throws {
        var out: [UInt8] = []
        let bytes = response.cgiBytes(includeBody: params.method != "HEAD")
        out.reserveCapacity(bytes.count + bytes.count / 8_000 + 64)
        FCGIRecord.encodeStream(bytes, type: .stdout, requestId: id, into: &out)
        FCGIRecord.encode(type: .stdout, requestId: id, content: [], into: &out)
        if !response.stderr.isEmpty {
            FCGIRecord.encodeStream(response.stderr, type: .stderr, requestId: id, into: &out)
            FCGIRecord.encode(type: .stderr, requestId: id, content: [], into: &out)
        }
        FCGIRecord.endRequest(id: id, appStatus: 0, protocolStatus: .requestComplete).encode(into: &out)
        try socket.write(out)
    }

    /// Management records (request id 0): `GET_VALUES` is answered with the names asked for that
    /// this side knows; any other type gets `UNKNOWN_TYPE`.
    func handleManagement(_ record: FCGIRecord) throws {
        guard record.type == .getValues else {
            try socket.write(FCGIRecord.unknownType(record.type).encoded())
            return
        }
        var answers: [(String, String)] = []
        for (name, _) in try FCGINameValuePairs.decode(record.content) {
            switch String(decoding: name, as: UTF8.self) {
            case FCGIValueName.maxConnections: answers.append((FCGIValueName.maxConnections, String(options.advertisedMaxConnections)))
            case FCGIValueName.maxRequests: answers.append((FCGIValueName.maxRequests, String(options.advertisedMaxRequests)))
            case FCGIValueName.multiplexesConnections: answers.append((FCGIValueName.multiplexesConnections, "0"))
            default: continue
            }
        }
        let content = FCGINameValuePairs.encode(answers)
        guard content.count <= FCGIRecord.maxContentLength else {
            throw FCGIError(.protocolViolation, "GET_VALUES asked for too much")
        }
        try socket.write(FCGIRecord(type: .getValuesResult, requestId: 0, content: content).encoded())
    }
}
