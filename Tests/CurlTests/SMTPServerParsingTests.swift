import Curl
import Testing

/// SMTP_URL parsing: a table of accepted URLs and a table of refused ones.
@Suite struct SMTPServerParsingTests {
    struct Parsed: Sendable, CustomTestStringConvertible {
        var input: String
        var url: String
        var username: String?
        var password: String?
        var tls: SMTPServer.TLS
        var testDescription: String { input }
    }

    @Test(arguments: [
        Parsed(input: "smtp://mail.example.com", url: "smtp://mail.example.com", tls: .opportunistic),
        Parsed(input: "smtp://mail.example.com:587", url: "smtp://mail.example.com:587", tls: .opportunistic),
        Parsed(input: "smtps://mail.example.com", url: "smtps://mail.example.com", tls: .implicit),
        Parsed(input: "smtps://mail.example.com:465?tls=implicit", url: "smtps://mail.example.com:465", tls: .implicit),
        Parsed(input: "SMTP://Mail.Example.com:25/", url: "smtp://Mail.Example.com:25", tls: .opportunistic),
        Parsed(input: "smtp://user:pass@host:587?tls=required", url: "smtp://host:587",
               username: "user", password: "pass", tls: .required),
        Parsed(input: "smtp://host:2525?tls=none", url: "smtp://host:2525", tls: .none),
        Parsed(input: "smtp://host/?tls=opportunistic", url: "smtp://host", tls: .opportunistic),
        Parsed(input: "smtp://host:2525?tls=REQUIRED", url: "smtp://host:2525", tls: .required),
        Parsed(input: "smtp://host:2465?tls=implicit", url: "smtp://host:2465", tls: .implicit),
        Parsed(input: "smtp://u%40example.com:p%3Aa%2Fs%25s%40@host", url: "smtp://host",
               username: "u@example.com", password: "p:a/s%s@", tls: .opportunistic),
        Parsed(input: "smtp://apikey:SG.a+b%2Bc@smtp.sendgrid.net:587", url: "smtp://smtp.sendgrid.net:587",
               username: "apikey", password: "SG.a+b+c", tls: .opportunistic),
        Parsed(input: "smtp://jos%C3%A9:p%C3%A4ss@host", url: "smtp://host",
               username: "josé", password: "päss", tls: .opportunistic),
        Parsed(input: "smtp://user@host", url: "smtp://host", username: "user", tls: .opportunistic),
        Parsed(input: "smtp://user:@host", url: "smtp://host", username: "user", password: "", tls: .opportunistic),
        Parsed(input: "smtp://[::1]:2525", url: "smtp://[::1]:2525", tls: .opportunistic),
        Parsed(input: "smtp://u:p@[2001:db8::1]?tls=none", url: "smtp://[2001:db8::1]",
               username: "u", password: "p", tls: .none),
        Parsed(input: "smtp://127.0.0.1:1025", url: "smtp://127.0.0.1:1025", tls: .opportunistic),
    ])
    func parses(_ expected: Parsed) throws {
        let server = try SMTPServer(parsing: expected.input, ehloName: "me.example", connectTimeout: 3, timeout: 9)
        #expect(server.url == expected.url)
        #expect(server.username == expected.username)
        #expect(server.password == expected.password)
        #expect(server.tls == expected.tls)
        #expect(server.ehloName == "me.example")
        #expect(server.connectTimeout == 3)
        #expect(server.timeout == 9)
    }

    @Test(arguments: [
        "",
        "mail.example.com:25",
        "http://host",
        "smtp://",
        "smtp://user:secretpw@",
        "smtp://host:0",
        "smtp://host:65536",
        "smtp://user:secretpw@host:abc",
        "smtp://host:",
        "smtps://user:secretpw@host?tls=none",
        "smtps://host?tls=required",
        "smtp://user:secretpw@host?tls=bogus",
        "smtp://host?tls=required&verify=no",
        "smtp://user:secretpw@host/example.org",
        "smtp://host#frag",
        "smtp://u:secretpw%zz@host",
        "smtp://u%ff:secretpw@host",
        "smtp://[::1",
        "smtp://[::1]x",
        "smtp://ho st",
    ])
    func refuses(_ input: String) throws {
        let error = try #require(throws: CurlError.self) { try SMTPServer(parsing: input) }
        #expect(error.code == .invalidInput)
        #expect(!error.description.contains("secretpw"), "errors never quote the URL: \(error)")
    }

    @Test func descriptionHidesThePassword() throws {
        let server = try SMTPServer(parsing: "smtp://mailer:hunter2@mail.example.com:587")
        #expect("\(server)" == "SMTPServer(smtp://mail.example.com:587, tls: opportunistic, username: mailer, password: ***, ehlo: localhost)")
        #expect(!String(reflecting: server).contains("hunter2"))
    }

    @Test(arguments: [
        SMTPServer(url: "smtps://h", tls: .none),
        SMTPServer(url: "smtp://u:p@h", tls: .none),
        SMTPServer(url: "smtp://h/path", tls: .none),
        SMTPServer(url: "imap://h", tls: .none),
        SMTPServer(url: "smtp://h", tls: .none, ehloName: "bad name"),
        SMTPServer(url: "smtp://h", tls: .none, ehloName: "a/b"),
        SMTPServer(url: "smtp://h", tls: .none, ehloName: ""),
        SMTPServer(url: "smtp://h", tls: .none, timeout: 0),
    ])
    func inconsistentServersAreRefusedBeforeConnecting(server: SMTPServer) throws {
        let error = try #require(throws: CurlError.self) {
            try SMTPClient().send(from: "a@b", recipients: ["c@d"], message: .init("x\r\n".utf8), server: server)
        }
        #expect(error.code == .invalidInput)
    }
}

extension SMTPServer: CustomTestStringConvertible {
    public var testDescription: String { "\(url) tls=\(tls.rawValue) ehlo=\(ehloName)" }
}
