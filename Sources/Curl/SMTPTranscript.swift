/// One complete SMTP reply: its code and the whole text, continuation lines joined by spaces.
struct SMTPReply: Equatable, Sendable {
    var code: Int
    /// e.g. "550 5.1.1 no such user".
    var text: String
}

/// Pairs the commands libcurl sends with the replies that follow, from CURLOPT_DEBUGFUNCTION's
/// HEADER_OUT/HEADER_IN traffic. libcurl sends one command and waits for its reply (no
/// PIPELINING), so each reply belongs to the command sent last.
///
/// Only MAIL, RCPT and DATA are recognised; every other line sent (AUTH and its base64
/// credentials included) is dropped on arrival and never stored.
struct SMTPTranscript {
    private enum Command {
        case mailFrom, recipient, data, endOfData, quit
    }

    /// The replies to each RCPT TO, in the order sent.
    private(set) var recipientReplies: [SMTPReply] = []
    /// The reply to MAIL FROM.
    private(set) var mailReply: SMTPReply?
    /// The reply to the message itself (after "354" and the body).
    private(set) var finalReply: SMTPReply?
    /// The last complete reply before QUIT: after a failure libcurl closes the connection
    /// politely, and the "221 Bye" must not hide the refusal that caused it.
    private(set) var lastReply: SMTPReply?

    private var pending: Command?
    private var outBuffer: [UInt8] = []
    private var inBuffer: [UInt8] = []
    private var replyLines: [Substring] = []

    /// CURLINFO_HEADER_OUT bytes (commands), possibly partial lines.
    mutating func sent(_ bytes: UnsafeRawBufferPointer) {
        outBuffer.append(contentsOf: bytes)
        while let line = Self.takeLine(&outBuffer) {
            // Classify at once and keep nothing else: this is where AUTH secrets pass by.
            let upper = line.prefix(10).uppercased()
            if upper.hasPrefix("MAIL FROM:") {
                pending = .mailFrom
            } else if upper.hasPrefix("RCPT TO:") {
                pending = .recipient
            } else if upper == "DATA" {
                pending = .data
            } else if upper == "QUIT" {
                pending = .quit
            } else {
                pending = nil
            }
        }
    }

    /// CURLINFO_HEADER_IN bytes (replies), possibly partial or several lines.
    mutating func received(_ bytes: UnsafeRawBufferPointer) {
        inBuffer.append(contentsOf: bytes)
        while let line = Self.takeLine(&inBuffer) {
            receivedLine(line)
        }
    }

    private mutating func receivedLine(_ line: String) {
        let code = line.count >= 3 ? Int(line.prefix(3)) : nil
        let separator = line.dropFirst(3).first
        guard let code, separator == nil || separator == " " || separator == "-" else {
            return  // not a reply line; libcurl would have failed the transfer anyway
        }
        replyLines.append(line.dropFirst(4))
        guard separator != "-" else { return }

        let text = ([String(code)] + replyLines.filter { !$0.isEmpty }.map(String.init))
            .joined(separator: " ")
        replyLines.removeAll()
        let reply = SMTPReply(code: code, text: text)
        if pending != .quit { lastReply = reply }
        switch pending {
        case .mailFrom: mailReply = reply
        case .recipient: recipientReplies.append(reply)
        case .data:
            // 354 invites the body; the next reply answers the message itself.
            pending = code == 354 ? .endOfData : nil
            return
        case .endOfData: finalReply = reply
        case .quit, nil: break
        }
        pending = nil
    }

    /// Removes and returns the first CRLF- (or LF-) terminated line, without its terminator.
    private static func takeLine(_ buffer: inout [UInt8]) -> String? {
        guard let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        var end = newline
        if end > 0, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: buffer[..<end], as: UTF8.self)
        buffer.removeSubrange(...newline)
        return line
    }
}
