/// The role a web server asks the application to play. Only the responder is supported.
public struct FCGIRole: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let responder = FCGIRole(rawValue: 1)
    public static let authorizer = FCGIRole(rawValue: 2)
    public static let filter = FCGIRole(rawValue: 3)
}

/// The protocol status of an `END_REQUEST`.
public enum FCGIProtocolStatus: UInt8, Sendable {
    case requestComplete = 0
    case cantMultiplexConnection = 1
    case overloaded = 2
    case unknownRole = 3
}

/// `FCGI_BeginRequestBody`: role and flags.
public struct FCGIBeginRequest: Equatable, Sendable {
    /// `FCGI_KEEP_CONN`: the web server closes the connection, not the application.
    public static let keepConnectionFlag: UInt8 = 1

    public var role: FCGIRole
    public var flags: UInt8

    public init(role: FCGIRole = .responder, keepConnection: Bool) {
        self.role = role
        self.flags = keepConnection ? Self.keepConnectionFlag : 0
    }

    public var keepConnection: Bool { flags & Self.keepConnectionFlag != 0 }

    /// The 8 content bytes.
    public var content: [UInt8] {
        [UInt8(role.rawValue >> 8), UInt8(role.rawValue & 0xFF), flags, 0, 0, 0, 0, 0]
    }

    /// Decodes the content of a `BEGIN_REQUEST` record, which must be exactly 8 bytes.
    public init(decoding content: [UInt8]) throws {
        guard content.count == 8 else {
            throw FCGIError(.malformedRecord, "BEGIN_REQUEST carries 8 bytes, got \(content.count)")
        }
        role = FCGIRole(rawValue: UInt16(content[0]) << 8 | UInt16(content[1]))
        flags = content[2]
    }
}

/// `FCGI_EndRequestBody`: the application's exit status and the protocol status.
public struct FCGIEndRequest: Equatable, Sendable {
    public var appStatus: UInt32
    public var protocolStatus: FCGIProtocolStatus

    public init(appStatus: UInt32, protocolStatus: FCGIProtocolStatus) {
        self.appStatus = appStatus
        self.protocolStatus = protocolStatus
    }

    /// The 8 content bytes.
    public var content: [UInt8] {
        [UInt8(appStatus >> 24), UInt8((appStatus >> 16) & 0xFF), UInt8((appStatus >> 8) & 0xFF), UInt8(appStatus & 0xFF),
         protocolStatus.rawValue, 0, 0, 0]
    }

    /// Decodes the content of an `END_REQUEST` record.
    public init(decoding content: [UInt8]) throws {
        guard content.count == 8, let status = FCGIProtocolStatus(rawValue: content[4]) else {
            throw FCGIError(.malformedRecord, "END_REQUEST carries 8 bytes with a known protocol status")
        }
        appStatus = UInt32(content[0]) << 24 | UInt32(content[1]) << 16 | UInt32(content[2]) << 8 | UInt32(content[3])
        protocolStatus = status
    }
}

/// The variable names `FCGI_GET_VALUES` may ask for.
public enum FCGIValueName {
    public static let maxConnections = "FCGI_MAX_CONNS"
    public static let maxRequests = "FCGI_MAX_REQS"
    public static let multiplexesConnections = "FCGI_MPXS_CONNS"
}

extension FCGIRecord {
    /// A `BEGIN_REQUEST` record.
    public static func beginRequest(id: UInt16, role: FCGIRole = .responder, keepConnection: Bool) -> FCGIRecord {
        FCGIRecord(type: .beginRequest, requestId: id, content: FCGIBeginRequest(role: role, keepConnection: keepConnection).content)
    }

    /// An `END_REQUEST` record.
    public static func endRequest(id: UInt16, appStatus: UInt32, protocolStatus: FCGIProtocolStatus) -> FCGIRecord {
        FCGIRecord(type: .endRequest, requestId: id, content: FCGIEndRequest(appStatus: appStatus, protocolStatus: protocolStatus).content)
    }

    /// An `UNKNOWN_TYPE` reply naming the type that was not understood.
    public static func unknownType(_ type: FCGIRecordType) -> FCGIRecord {
        FCGIRecord(type: .unknownType, requestId: 0, content: [type.rawValue, 0, 0, 0, 0, 0, 0, 0])
    }
}
