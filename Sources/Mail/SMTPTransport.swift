import Curl
import FoundationEssentials
import Synchronization

/// Sends `EmailMessage`s through libcurl, one upload per message, keeping idle SMTP clients
/// (and so their open connections) for the next message.
///
/// Thread-safe: each send takes a client out of the pool, so two threads never share one.
/// `send` blocks the calling thread for up to the settings' timeout: call it from a worker
/// thread or process, never from the async cooperative pool.
public final class SMTPTransport: Sendable {
    /// An SMTPClient is not thread-safe, but the pool hands each one to a single thread at a
    /// time, which is all libcurl's easy interface asks.
    private final class PooledClient: @unchecked Sendable {
        let client: SMTPClient
        init(_ client: SMTPClient) { self.client = client }
    }

    private let idle = Mutex<[PooledClient]>([])
    /// Idle clients kept; more are closed after use.
    public let maxIdle: Int

    /// Creates an empty pool; clients are made on first use.
    public init(maxIdle: Int = 2) {
        self.maxIdle = maxIdle
    }

    /// Renders and delivers `message` to every envelope recipient (to, cc and bcc).
    ///
    /// Some recipients refused with the rest accepted is a success that lists the refusals:
    /// retrying would send the accepted ones a second copy. Otherwise a 5xx reply is a
    /// `.permanentFailure`, and a 4xx reply, a connection failure or a timeout a
    /// `.temporaryFailure`, each keeping the server's words.
    public func send(_ message: EmailMessage, settings: MailSettings) throws(MailError) -> EmailDelivery {
        let bytes = Data(message.rendered())
        let pooled = try checkOut()
        defer { checkIn(pooled) }
        do {
            let delivery = try pooled.client.send(from: settings.sender.address.description, recipients: message.envelopeRecipients,
                                                  message: bytes, server: settings.server)
            return EmailDelivery(messageId: message.messageID.value, accepted: delivery.accepted,
                                 rejected: delivery.rejected.map { .init(address: $0.address, code: $0.code, reply: $0.reply) })
        } catch let error as CurlError {
            throw MailError(delivering: error)
        } catch {
            throw MailError(.temporaryFailure, "SMTP delivery failed: \(error)")
        }
    }

    private func checkOut() throws(MailError) -> PooledClient {
        if let reused = idle.withLock({ $0.popLast() }) { return reused }
        do {
            return PooledClient(try SMTPClient())
        } catch {
            throw MailError(.temporaryFailure, "cannot create an SMTP client: \(error)")
        }
    }

    private func checkIn(_ pooled: PooledClient) {
        idle.withLock { clients in
            if clients.count < maxIdle { clients.append(pooled) }
        }
    }
}

/// What the server did with a message: send-email's result.
public struct EmailDelivery: Sendable, Equatable, Encodable {
    /// One refused recipient with the server's reply.
    public struct Rejection: Sendable, Equatable, Encodable {
        /// The address as given.
        public var address: String
        /// The RCPT TO reply code, e.g. 550.
        public var code: Int
        /// The server's whole reply line.
        public var reply: String
    }

    /// The Message-ID header's value, with angle brackets.
    public var messageId: String
    /// Recipients the server accepted (to, cc and bcc).
    public var accepted: [String]
    public var rejected: [Rejection]
}

extension MailError {
    /// Classifies a libcurl failure: only an SMTP 5xx (or a message refused before sending)
    /// is permanent; everything else may pass on a later attempt.
    init(delivering error: CurlError) {
        switch error.code {
        case .serverRejected:
            if let code = error.responseCode, (500..<600).contains(code) {
                self.init(.permanentFailure, "the SMTP server refused the message: \(error.message)", replyCode: code)
            } else {
                self.init(.temporaryFailure, "the SMTP server deferred the message: \(error.message)", replyCode: error.responseCode)
            }
        case .timeout:
            self.init(.temporaryFailure, "the SMTP server did not answer in time: \(error.message)")
        case .couldNotConnect, .couldNotResolve:
            self.init(.temporaryFailure, "cannot reach the SMTP server: \(error.message)")
        case .sendFailed, .receiveFailed:
            self.init(.temporaryFailure, "the SMTP connection broke: \(error.message)")
        case .tls:
            self.init(.temporaryFailure, "TLS with the SMTP server failed: \(error.message)")
        case .invalidInput, .addressNotAllowed:
            self.init(.permanentFailure, "the message was refused before sending: \(error.message)")
        case .tooLarge, .other:
            self.init(.temporaryFailure, "SMTP delivery failed: \(error.message)")
        }
    }
}
