import CCurl
import FoundationEssentials

/// Delivers messages over SMTP with one reusable easy handle: a connection to the same server
/// (and credentials) is kept alive between messages. Not thread-safe; one per thread.
///
/// `send` blocks the calling thread: call it from a dedicated thread or process, never from the
/// async cooperative pool.
public final class SMTPClient {
    private let easy: EasyHandle

    /// Creates the handle (initialising libcurl once per process).
    public init() throws {
        easy = try EasyHandle()
    }

    /// One upload per message: MAIL FROM, one RCPT TO per recipient, DATA. The message must use CRLF line endings.
    /// With some recipients rejected (CURLOPT_MAIL_RCPT_ALLOWFAILS) the rest still get the message and the rejections are returned.
    /// When every recipient is rejected or the server refuses MAIL/DATA, throws CurlError(.serverRejected) with responseCode and the server's reply text in message.
    /// (When every recipient is rejected and some only temporarily, `responseCode` is that 4xx,
    /// so `isTransient` says a retry may help.)
    ///
    /// Throws `.invalidInput` before connecting when an address holds CR, LF or NUL (command
    /// injection), when there are no recipients, or when the message has a bare CR or LF (which
    /// servers disagree about: the root of SMTP smuggling). libcurl dot-stuffs lines that
    /// start with "." and ends a message lacking a final CRLF with one. Errors never include
    /// the credentials.
    public func send(
        from: String, recipients: [String], message: Data, server: SMTPServer
    ) throws -> SMTPDelivery {
        try Self.validate(from: from, recipients: recipients, message: message)
        let url = try server.transferURL()
        let transfer = SMTPTransfer(message: [UInt8](message))
        let recipientList = try StringList(recipients)
        try configure(url: url, server: server, from: from, recipients: recipientList,
                      size: message.count, transfer: transfer)
        let code = withExtendedLifetime((transfer, recipientList)) { easy.perform() }
        try easy.set(CURLOPT_MAIL_RCPT, nil)

        let transcript = transfer.transcript
        guard code == CURLE_OK else {
            throw failure(code, transcript: transcript, recipients: recipients, secrets: server.secrets)
        }
        var delivery = SMTPDelivery(accepted: [], rejected: [], reply: transcript.finalReply?.text)
        for (index, address) in recipients.enumerated() {
            let reply = index < transcript.recipientReplies.count ? transcript.recipientReplies[index] : nil
            if let reply, !(200..<300).contains(reply.code) {
                delivery.rejected.append(SMTPRejection(address: address, code: reply.code, reply: reply.text))
            } else {
                delivery.accepted.append(address)
            }
        }
        return delivery
    }

    private func configure(
        url: String, server: SMTPServer, from: String, recipients: StringList, size: Int,
        transfer: SMTPTransfer
    ) throws {
        try easy.reset()
        try easy.set(CURLOPT_URL, url)
        try easy.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
        try easy.set(CURLOPT_PROXY, "")
        try easy.set(CURLOPT_NOPROXY, "*")
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds(server.connectTimeout))
        try easy.set(CURLOPT_TIMEOUT_MS, milliseconds(server.timeout))
        let useSSL: curl_usessl = switch server.tls {
        case .none: CURLUSESSL_NONE
        case .opportunistic: CURLUSESSL_TRY
        case .required, .implicit: CURLUSESSL_ALL
        }
        try easy.set(CURLOPT_USE_SSL, Int(useSSL.rawValue))
        // Only the trust anchors change: peer and host verification stay on (libcurl's default).
        if let caFile = server.caFile { try easy.set(CURLOPT_CAINFO, caFile) }
        if let username = server.username { try easy.set(CURLOPT_USERNAME, username) }
        if let password = server.password { try easy.set(CURLOPT_PASSWORD, password) }

        // libcurl adds the angle brackets unless the address already has them; "" sends <>.
        try easy.set(CURLOPT_MAIL_FROM, from)
        try easy.set(CURLOPT_MAIL_RCPT, recipients)
        // Spelled ALLLOWFAILS in libcurl < 8.2: carry on past rejected recipients.
        try easy.set(CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1)
        try easy.set(CURLOPT_UPLOAD, 1)
        try easy.set(CURLOPT_INFILESIZE_LARGE, offset: Int64(size))

        try easy.set(CURLOPT_READDATA, context: transfer)
        try easy.set(CURLOPT_DEBUGDATA, context: transfer)
        // The debug callback only runs in verbose mode; it prints nothing of its own.
        try easy.set(CURLOPT_VERBOSE, 1)
        let readCode = ccurl_setopt_read_function(easy.raw) { buffer, size, count, context in
            let transfer = Unmanaged<SMTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            return transfer.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
        }
        let debugCode = ccurl_setopt_debug_function(easy.raw) { _, type, data, size, context in
            let transfer = Unmanaged<SMTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            let bytes = UnsafeRawBufferPointer(start: data, count: size)
            if type == CURLINFO_HEADER_OUT {
                transfer.transcript.sent(bytes)
            } else if type == CURLINFO_HEADER_IN {
                transfer.transcript.received(bytes)
            }
            return 0
        }
        for code in [readCode, debugCode] where code != CURLE_OK {
            throw easy.error(for: code, secrets: [])
        }
    }

    /// libcurl reports a refusal as a send error ("RCPT failed: 550") or a weird reply, without
    /// the server's words. When the session's last reply was an error, that reply is the cause.
    private func failure(
        _ code: CURLcode, transcript: SMTPTranscript, recipients: [String], secrets: [String]
    ) -> CurlError {
        let error = easy.error(for: code, secrets: secrets)
        let refusalCodes = [
            CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_WEIRD_SERVER_REPLY, CURLE_LOGIN_DENIED,
            CURLE_REMOTE_ACCESS_DENIED, CURLE_UPLOAD_FAILED,
        ]
        guard let refusal = transcript.lastReply, refusal.code >= 400, refusalCodes.contains(code) else {
            return error
        }
        var message = error.message
        var responseCode = refusal.code
        let replies = transcript.recipientReplies
        if replies.count == recipients.count, transcript.finalReply == nil,
            replies.allSatisfy({ $0.code >= 300 })
        {
            let each = zip(recipients, replies).prefix(10).map { "\($0): \($1.text)" }
            message += "; every recipient was rejected: " + each.joined(separator: "; ")
            if recipients.count > 10 { message += "; …" }
            // One temporary refusal makes the whole send worth retrying.
            if let temporary = replies.last(where: { (400..<500).contains($0.code) }) {
                responseCode = temporary.code
            }
        } else {
            message += "; server replied: " + refusal.text
        }
        return CurlError(
            .serverRejected, curlCode: error.curlCode,
            message: CurlError.redact(message, secrets: secrets), responseCode: responseCode)
    }

    private static func validate(from: String, recipients: [String], message: Data) throws {
        let forbidden: Set<UInt8> = [0x0D, 0x0A, 0]
        guard !from.utf8.contains(where: forbidden.contains) else {
            throw CurlError.invalidInput("the sender address contains CR, LF or NUL")
        }
        guard !recipients.isEmpty else {
            throw CurlError.invalidInput("there are no recipients")
        }
        for (index, recipient) in recipients.enumerated() {
            guard !recipient.isEmpty, !recipient.utf8.contains(where: forbidden.contains) else {
                throw CurlError.invalidInput("recipient #\(index + 1) is empty or contains CR, LF or NUL")
            }
        }
        var previous: UInt8 = 0
        for (index, byte) in message.enumerated() {
            let bareLF = byte == 0x0A && previous != 0x0D
            let bareCR = previous == 0x0D && byte != 0x0A
            if bareLF || bareCR {
                throw CurlError.invalidInput(
                    "the message has a bare \(bareLF ? "LF" : "CR") near byte \(index); use CRLF line endings")
            }
            previous = byte
        }
        if previous == 0x0D {
            throw CurlError.invalidInput("the message ends with a bare CR; use CRLF line endings")
        }
    }
}
