import FoundationEssentials

/// The limits send-email enforces, beyond RFC 5322's own.
public enum EmailLimits {
    /// Addresses in `to`.
    public static let maxTo = 50
    /// Addresses in `cc`.
    public static let maxCc = 50
    /// Addresses in `bcc`.
    public static let maxBcc = 50
    /// Distinct RCPT TO addresses across to, cc and bcc.
    public static let maxRecipients = 100
    /// Addresses in `replyTo`.
    public static let maxReplyTo = 10
    /// Each of text and html, in UTF-8 bytes.
    public static let maxBodyBytes = 1 << 20
    /// Files in `attachments`.
    public static let maxAttachments = 50
    /// All attachments together, decoded.
    public static let maxAttachmentBytes = 10 << 20
    /// Entries in `headers`.
    public static let maxHeaders = 50
}

extension EmailRequest {
    /// Validates everything and builds the message from `sender`. The Message-ID is the
    /// request's own or a new random one at the sender's domain.
    ///
    /// Throws `MailError(.invalidInput)` whose `field` is the JSON path at fault (`to[2]`,
    /// `attachments[0].contentBase64`, `headers.X-Tag`).
    public func message(from sender: Mailbox, date: Date) throws(MailError) -> EmailMessage {
        let to = try Self.mailboxes(self.to, field: "to", limit: EmailLimits.maxTo, required: true)
        let cc = try Self.mailboxes(self.cc, field: "cc", limit: EmailLimits.maxCc, required: false)
        let bcc = try Self.mailboxes(self.bcc, field: "bcc", limit: EmailLimits.maxBcc, required: false)
        let replyTo = try Self.mailboxes(self.replyTo, field: "replyTo", limit: EmailLimits.maxReplyTo, required: false)

        do { try EmailMessage.checkSubject(subject) } catch { throw MailError.invalid("subject", error) }
        guard !subject.isEmpty else { throw MailError.invalid("subject", "must not be empty") }

        let text = self.text.flatMap { $0.isEmpty ? nil : $0 }
        let html = self.html.flatMap { $0.isEmpty ? nil : $0 }
        guard text != nil || html != nil else { throw MailError.invalid("text", "text or html is required") }
        for (field, body) in [("text", text), ("html", html)] {
            guard let body else { continue }
            guard body.utf8.count <= EmailLimits.maxBodyBytes else {
                throw MailError.invalid(field, "is longer than \(EmailLimits.maxBodyBytes) bytes")
            }
            guard !body.utf8.contains(0) else { throw MailError.invalid(field, "must not contain NUL") }
        }

        let attachments = try self.attachmentsDecoded()
        guard headers.count <= EmailLimits.maxHeaders else {
            throw MailError.invalid("headers", "has more than \(EmailLimits.maxHeaders) entries")
        }
        var seenHeaders = Set<String>()
        for h in headers {
            do { try EmailMessage.checkHeader(name: h.name, value: h.value) } catch { throw MailError.invalid("headers.\(h.name)", error) }
            guard seenHeaders.insert(h.name.lowercased()).inserted else {
                throw MailError.invalid("headers.\(h.name)", "is given twice (header names ignore case)")
            }
        }
        let id: MessageID
        if let messageId {
            do { id = try MessageID(parsing: messageId) } catch { throw MailError.invalid("messageId", error) }
        } else {
            id = MessageID.generate(domain: sender.address.domain)
        }
        let message = try EmailMessage(from: sender, to: to, cc: cc, bcc: bcc, replyTo: replyTo, subject: subject, text: text,
                                       html: html, attachments: attachments, headers: headers, messageID: id, date: date)
        guard message.envelopeRecipients.count <= EmailLimits.maxRecipients else {
            throw MailError.invalid("bcc", "to, cc and bcc together name more than \(EmailLimits.maxRecipients) distinct recipients")
        }
        return message
    }

    static func mailboxes(_ list: Recipients, field: String, limit: Int, required: Bool) throws(MailError) -> [Mailbox] {
        guard !required || !list.items.isEmpty else { throw MailError.invalid(field, "needs at least one address") }
        guard list.items.count <= limit else { throw MailError.invalid(field, "has \(list.items.count) addresses; at most \(limit) are allowed") }
        var out: [Mailbox] = []
        for (i, recipient) in list.items.enumerated() {
            let path = list.isList ? "\(field)[\(i)]" : field
            do {
                switch recipient {
                case .text(let text):
                    out.append(try Mailbox(parsing: text))
                case .parts(let email, let name):
                    let address: EmailAddress
                    do { address = try EmailAddress(parsing: email) } catch { throw MailError.invalid("\(path).email", error) }
                    do { out.append(try Mailbox(name: name, address: address)) } catch { throw MailError.invalid("\(path).name", error) }
                }
            } catch let error as MailError {
                throw error
            } catch let problem as InputProblem {
                throw MailError.invalid(path, problem)
            } catch {
                throw MailError.invalid(path, "is not a valid address")
            }
        }
        return out
    }

    func attachmentsDecoded() throws(MailError) -> [Attachment] {
        guard attachments.count <= EmailLimits.maxAttachments else {
            throw MailError.invalid("attachments", "has \(attachments.count) files; at most \(EmailLimits.maxAttachments) are allowed")
        }
        var total = 0
        var out: [Attachment] = []
        for (i, input) in attachments.enumerated() {
            let path = "attachments[\(i)]"
            let type: MediaType
            do { type = try MediaType(parsing: input.contentType) } catch { throw MailError.invalid("\(path).contentType", error) }
            let bytes: [UInt8]
            do { bytes = try Base64.decode(input.contentBase64) } catch { throw MailError.invalid("\(path).contentBase64", error) }
            total += bytes.count
            guard total <= EmailLimits.maxAttachmentBytes else {
                throw MailError.invalid(path, "attachments total more than \(EmailLimits.maxAttachmentBytes) bytes decoded")
            }
            do { out.append(try Attachment(filename: input.filename, contentType: type, content: bytes)) } catch {
                throw MailError.invalid("\(path).filename", error)
            }
        }
        return out
    }
}
