import Logging

/// Limits and answers shared by every connection of a server.
public struct FCGIConnectionOptions: Sendable {
    /// How long one read may wait while a request is in flight; a stalled peer is then dropped.
    public var readTimeout: Double = 30
    /// How long one write may block on a peer that stops reading.
    public var writeTimeout: Double = 30
    /// The cap on a request's encoded params; more closes the connection.
    public var maxParamsBytes = 1 << 20
    /// How far past its CONTENT_LENGTH a body may run before it is refused.
    public var contentLengthSlackBytes = 16_384
    /// `FCGI_MAX_CONNS` and `FCGI_MAX_REQS` as `GET_VALUES` reports them (the pool's capacity).
    public var advertisedMaxConnections = 1
    public var advertisedMaxRequests = 1
    /// The `appStatus` of a request ended by `ABORT_REQUEST`.
    public var abortedAppStatus: UInt32 = 1
    /// Where connection-level trouble (malformed records, timeouts) is reported. Never params or bodies.
    public var logger = Logger(label: "fastcgi")

    public init() {}
}
