import Curl
import FoundationEssentials

/// Where and as whom send-email delivers, read from the environment:
///
/// - `SMTP_URL` (required): `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none]`
///   or `smtps://…`; see `SMTPServer(parsing:)`.
/// - `SMTP_FROM_EMAIL` (required) and `SMTP_FROM_NAME` (optional): the From header and the
///   envelope sender.
/// - `SMTP_EHLO_NAME`: the name sent in EHLO; defaults to the sender's domain.
/// - `SMTP_CONNECT_TIMEOUT_SECONDS` (default 10) and `SMTP_TIMEOUT_SECONDS` (default 60, the
///   whole SMTP session).
/// - `SMTP_CA_FILE`: a PEM file of CA certificates to verify the server's certificate against
///   (STARTTLS or smtps://), for a server with a private CA; it replaces libcurl's default
///   bundle file. It must be a readable file. Verification itself can never be turned off.
public struct MailSettings: Sendable {
    /// The SMTP server, credentials, TLS mode, EHLO name and timeouts.
    public var server: SMTPServer
    /// The From mailbox; its address is also the envelope sender.
    public var sender: Mailbox

    /// Seconds to connect when SMTP_CONNECT_TIMEOUT_SECONDS is not set.
    public static let defaultConnectTimeout = 10.0
    /// Seconds for the whole session when SMTP_TIMEOUT_SECONDS is not set.
    public static let defaultTimeout = 60.0

    /// Reads the settings; a missing or malformed variable is a `.notConfigured` error naming it
    /// (never quoting SMTP_URL, which may hold a password).
    public init(environment: [String: String]) throws(MailError) {
        func value(_ name: String) -> String? {
            guard let v = environment[name], !v.isEmpty else { return nil }
            return v
        }
        func require(_ name: String) throws(MailError) -> String {
            guard let v = value(name) else { throw MailError(.notConfigured, "\(name) is not set") }
            return v
        }
        func seconds(_ name: String, default fallback: Double) throws(MailError) -> Double {
            guard let text = value(name) else { return fallback }
            guard let n = Double(text), n.isFinite, n > 0, n <= 3600 else {
                throw MailError(.notConfigured, "\(name) must be a number of seconds between 0 and 3600")
            }
            return n
        }
        let url = try require("SMTP_URL")
        let email = try require("SMTP_FROM_EMAIL")
        let address: EmailAddress
        do { address = try EmailAddress(parsing: email) } catch { throw MailError(.notConfigured, "SMTP_FROM_EMAIL \(error.reason)") }
        do { sender = try Mailbox(name: value("SMTP_FROM_NAME"), address: address) } catch {
            throw MailError(.notConfigured, "SMTP_FROM_NAME \(error.reason)")
        }
        let ehlo = value("SMTP_EHLO_NAME") ?? address.domain
        guard Self.isValidEHLOName(ehlo) else {
            throw MailError(.notConfigured, "SMTP_EHLO_NAME must be a host name or an address literal such as [192.0.2.1]")
        }
        let connectTimeout = try seconds("SMTP_CONNECT_TIMEOUT_SECONDS", default: Self.defaultConnectTimeout)
        let timeout = try seconds("SMTP_TIMEOUT_SECONDS", default: Self.defaultTimeout)
        do {
            server = try SMTPServer(parsing: url, ehloName: ehlo, connectTimeout: connectTimeout, timeout: timeout)
        } catch let error as CurlError {
            throw MailError(.notConfigured, error.message)
        } catch {
            throw MailError(.notConfigured, "SMTP_URL is not valid")
        }
        if let caFile = value("SMTP_CA_FILE") {
            // Caught here rather than as a TLS failure on every attempt of every job.
            var isDirectory = false
            guard FileManager.default.fileExists(atPath: caFile, isDirectory: &isDirectory), !isDirectory,
                FileManager.default.isReadableFile(atPath: caFile)
            else {
                throw MailError(.notConfigured, "SMTP_CA_FILE must name a readable PEM file")
            }
            server.caFile = caFile
        }
    }

    /// Creates settings from parts (tests, embedding).
    public init(server: SMTPServer, sender: Mailbox) {
        self.server = server
        self.sender = sender
    }

    static func isValidEHLOName(_ name: String) -> Bool {
        if name.hasPrefix("[") { return (try? EmailAddress.checkDomain(name)) != nil }
        return name.utf8.count <= 253 && !name.isEmpty && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.utf8.allSatisfy { EmailAddress.isAlphanumeric($0) || $0 == UInt8(ascii: "-") }
        }
    }
}
