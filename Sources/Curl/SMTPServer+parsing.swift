extension SMTPServer {
    /// Parses SMTP_URL like smtp://user:pass@host:587?tls=required|opportunistic|none (default opportunistic for smtp://, implicit for smtps://), percent-decoding user and password.
    ///
    /// Characters such as `@ : / ? #` in the user name or password must be percent-encoded.
    /// `tls=implicit` on smtp:// is accepted (TLS from the first byte on that port); smtps://
    /// with any mode but implicit is refused. Errors never quote the URL, which holds the password.
    public init(
        parsing smtpURL: String, ehloName: String = "localhost", connectTimeout: Double = 10,
        timeout: Double = 60
    ) throws {
        guard let separator = smtpURL.firstRange(of: "://") else {
            throw CurlError.invalidInput("SMTP_URL must start with smtp:// or smtps://")
        }
        let scheme = smtpURL[..<separator.lowerBound].lowercased()
        guard scheme == "smtp" || scheme == "smtps" else {
            throw CurlError.invalidInput("SMTP_URL must start with smtp:// or smtps://")
        }
        let afterScheme = smtpURL[separator.upperBound...]
        let authorityEnd = afterScheme.firstIndex { "/?#".contains($0) } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        var rest = afterScheme[authorityEnd...]

        var username: String?
        var password: String?
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            let colon = userinfo.firstIndex(of: ":")
            username = try Self.percentDecoded(userinfo[..<(colon ?? userinfo.endIndex)], "user name")
            if let colon {
                password = try Self.percentDecoded(userinfo[userinfo.index(after: colon)...], "password")
            }
            if username == "" { username = nil }
        }
        try Self.checkHostPort(hostPort)

        if rest.hasPrefix("/") { rest = rest.dropFirst() }
        if rest.contains("#") {
            throw CurlError.invalidInput("SMTP_URL must not have a fragment")
        }
        var tls: TLS = scheme == "smtps" ? .implicit : .opportunistic
        if !rest.isEmpty {
            guard rest.hasPrefix("?") else {
                throw CurlError.invalidInput("SMTP_URL must not have a path")
            }
            for pair in rest.dropFirst().split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, parts[0] == "tls" else {
                    throw CurlError.invalidInput("SMTP_URL has an unknown parameter; only tls= is supported")
                }
                guard let mode = TLS(rawValue: parts[1].lowercased()) else {
                    throw CurlError.invalidInput(
                        "SMTP_URL tls must be none, opportunistic, required or implicit")
                }
                tls = mode
            }
        }
        if scheme == "smtps", tls != .implicit {
            throw CurlError.invalidInput("smtps:// always uses implicit TLS; tls=\(tls.rawValue) contradicts it")
        }
        self.init(
            url: "\(scheme)://\(hostPort)", username: username, password: password, tls: tls,
            ehloName: ehloName, connectTimeout: connectTimeout, timeout: timeout)
    }

    /// host, host:port, [v6] or [v6]:port, with a port in 1...65535.
    private static func checkHostPort(_ text: Substring) throws {
        var host = text
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw CurlError.invalidInput("SMTP_URL has an unterminated IPv6 address")
            }
            host = text[...close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw CurlError.invalidInput("SMTP_URL has junk after the IPv6 address")
                }
                port = after.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard !host.isEmpty,
            host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0 != "\\" })
        else {
            throw CurlError.invalidInput("SMTP_URL has no valid host")
        }
        if let port {
            guard !port.isEmpty, port.allSatisfy(\.isASCII), let number = Int(port),
                (1...65535).contains(number)
            else {
                throw CurlError.invalidInput("SMTP_URL has an invalid port")
            }
        }
    }

    /// RFC 3986 percent-decoding, requiring the result to be UTF-8. `what` names the part for
    /// the error, which never quotes it.
    private static func percentDecoded(_ text: Substring, _ what: String) throws -> String {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
            else {
                throw CurlError.invalidInput("SMTP_URL \(what) has an invalid percent-encoding")
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw CurlError.invalidInput("SMTP_URL \(what) is not UTF-8 once decoded")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
