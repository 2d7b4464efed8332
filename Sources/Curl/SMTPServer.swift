import FoundationEssentials

/// Where and how `SMTPClient` delivers: address, credentials, TLS mode, trusted CAs, EHLO
/// name, timeouts.
///
/// `description` never shows the password, so the value is safe to log.
public struct SMTPServer: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// How TLS is used.
    public enum TLS: String, Sendable {
        /// Plain text, even when the server offers STARTTLS.
        case none
        /// STARTTLS when the server offers it, else plain text (credentials included: use
        /// `required` when AUTH goes over an untrusted network).
        case opportunistic
        /// STARTTLS or fail (`CurlError(.tls)`): never sends the message in plain text.
        case required
        /// TLS from the first byte (smtps://, usually port 465).
        case implicit
    }

    /// smtp://host:port or smtps://host:port (no credentials inside).
    public var url: String
    /// The AUTH user name, if the server wants one.
    public var username: String?
    /// The AUTH password.
    public var password: String?
    /// How TLS is used.
    public var tls: TLS
    /// The name sent in EHLO (as the URL path: smtp://host:port/ehloName).
    public var ehloName: String
    /// Seconds allowed to connect (TCP and TLS).
    public var connectTimeout: Double
    /// Seconds allowed for the whole session.
    public var timeout: Double
    /// A PEM file of CA certificates to verify the server against (CURLOPT_CAINFO), for a server
    /// whose certificate comes from a private CA. It replaces libcurl's default bundle file;
    /// the CA directory libcurl was built with (/etc/ssl/certs on Debian) still applies. nil
    /// keeps the system's trust store.
    ///
    /// The server's certificate and host name are always verified: there is no way to turn
    /// that off.
    public var caFile: String?

    /// Creates a server description from its parts.
    public init(
        url: String, username: String? = nil, password: String? = nil, tls: TLS,
        ehloName: String = "localhost", connectTimeout: Double = 10, timeout: Double = 60,
        caFile: String? = nil
    ) {
        self.url = url
        self.username = username
        self.password = password
        self.tls = tls
        self.ehloName = ehloName
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.caFile = caFile
    }

    /// The server without its password.
    public var description: String {
        var text = "SMTPServer(\(url), tls: \(tls.rawValue)"
        if let username { text += ", username: \(username)" }
        if password != nil { text += ", password: ***" }
        if let caFile { text += ", caFile: \(caFile)" }
        return text + ", ehlo: \(ehloName))"
    }

    /// Same as `description`: debug dumps must not leak the password either.
    public var debugDescription: String { description }

    /// The credentials, to scrub from error messages.
    var secrets: [String] { [username, password].compactMap { $0 } }

    /// The URL libcurl gets: the scheme follows the TLS mode and the path carries the EHLO name.
    func transferURL() throws -> String {
        let (scheme, authority) = try Self.splitBaseURL(url)
        if scheme == "smtps", tls != .implicit {
            throw CurlError.invalidInput(
                "smtps:// always uses implicit TLS; tls=\(tls.rawValue) contradicts it")
        }
        guard Self.isValidEHLOName(ehloName) else {
            throw CurlError.invalidInput("the EHLO name must be a host name or address literal")
        }
        for (name, seconds) in [("connectTimeout", connectTimeout), ("timeout", timeout)] {
            guard seconds.isFinite, seconds > 0 else {
                throw CurlError.invalidInput("\(name) must be a positive number of seconds")
            }
        }
        if let caFile, caFile.isEmpty || caFile.utf8.contains(0) {
            throw CurlError.invalidInput("caFile must be a file path")
        }
        return "\(tls == .implicit ? "smtps" : "smtp")://\(authority)/\(ehloName)"
    }

    /// Splits smtp[s]://host[:port][/] into its lowercased scheme and its authority.
    static func splitBaseURL(_ url: String) throws -> (scheme: String, authority: String) {
        guard let separator = url.firstRange(of: "://") else {
            throw CurlError.invalidInput("the SMTP URL must start with smtp:// or smtps://")
        }
        let scheme = url[..<separator.lowerBound].lowercased()
        guard scheme == "smtp" || scheme == "smtps" else {
            throw CurlError.invalidInput("the SMTP URL must start with smtp:// or smtps://")
        }
        var authority = url[separator.upperBound...]
        if authority.hasSuffix("/") { authority.removeLast() }
        guard !authority.isEmpty, !authority.contains(where: { "/?#@".contains($0) }),
            authority.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
        else {
            throw CurlError.invalidInput(
                "the SMTP URL must be scheme://host[:port] only; credentials go in username/password")
        }
        return (scheme, String(authority))
    }

    /// A DNS name or an address literal: anything else could bend the URL or the EHLO line.
    static func isValidEHLOName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || ".-_[]:".unicodeScalars.contains(scalar))
        }
    }
}
