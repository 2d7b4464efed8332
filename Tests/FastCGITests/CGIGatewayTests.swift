import FastCGI
import Foundation
import Glibc
import Testing

/// CGI/1.1 mode over real pipes.
struct CGIGatewayTests {
    struct Pipes {
        var inputRead: Int32, inputWrite: Int32, outputRead: Int32, outputWrite: Int32

        init() throws {
            var a: [Int32] = [-1, -1], b: [Int32] = [-1, -1]
            guard pipe(&a) == 0, pipe(&b) == 0 else { throw FCGIError.system("pipe") }
            (inputRead, inputWrite, outputRead, outputWrite) = (a[0], a[1], b[0], b[1])
        }

        func closeAll() { for fd in [inputRead, inputWrite, outputRead, outputWrite] { close(fd) } }

        /// Everything written to the output so far (the writer end is closed first).
        func output() throws -> [UInt8] {
            close(outputWrite)
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = read(outputRead, &chunk, chunk.count)
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            return bytes
        }
    }

    static func env(_ method: String, _ path: String, length: Int? = nil) -> [String: String] {
        var e = ["GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "DOCUMENT_URI": path, "QUERY_STRING": "",
                 "HTTP_X_API_KEY": "k", "DATABASE_URL": "postgresql://secret@localhost/x"]
        if let length { e["CONTENT_LENGTH"] = "\(length)" }
        return e
    }

    @Test func readsExactlyContentLengthAndAnswers() throws {
        let p = try Pipes()
        defer { p.closeAll() }
        let body = Array("hello, world".utf8)
        _ = body.withUnsafeBytes { write(p.inputWrite, $0.baseAddress, $0.count) }
        _ = write(p.inputWrite, "trailing bytes not part of the body", 35)
        let status = try CGIGateway.serve(environment: Self.env("POST", "/echo", length: body.count), input: p.inputRead,
                                          output: p.outputWrite, responder: TestResponder(), readTimeout: 5)
        #expect(status == 200)
        let out = try p.output()
        #expect(String(decoding: out.prefix(17), as: UTF8.self) == "Status: 200 OK\r\nC")
        let response = try FCGIResponse(parsingCGI: out)
        #expect(response.body == body)
        #expect(response.header("Content-Length") == "12")
        // Only the CGI variables reach the responder, not the rest of the environment.
        #expect(response.header("X-Params") == "6")
    }

    @Test func refusesAnOversizedBodyWithoutReadingIt() throws {
        let p = try Pipes()
        defer { p.closeAll() }
        // The writer never finishes: the answer must not wait for the body.
        _ = write(p.inputWrite, "abc", 3)
        let status = try CGIGateway.serve(environment: Self.env("POST", "/limited", length: 5_000_000), input: p.inputRead,
                                          output: p.outputWrite, responder: TestResponder(), readTimeout: 5)
        #expect(status == 413)
        #expect(try FCGIResponse(parsingCGI: p.output()).status == 413)
    }

    @Test func aShortBodyIsReported() throws {
        let p = try Pipes()
        defer { p.closeAll() }
        _ = write(p.inputWrite, "abc", 3)
        close(p.inputWrite)
        let status = try CGIGateway.serve(environment: Self.env("POST", "/echo", length: 10), input: p.inputRead,
                                          output: p.outputWrite, responder: TestResponder(), readTimeout: 5)
        #expect(status == 400)
    }

    @Test func noContentLengthMeansNoBody() throws {
        let p = try Pipes()
        defer { p.closeAll() }
        let status = try CGIGateway.serve(environment: Self.env("GET", "/echo"), input: p.inputRead,
                                          output: p.outputWrite, responder: TestResponder(), readTimeout: 5)
        #expect(status == 200)
        #expect(try FCGIResponse(parsingCGI: p.output()).body.isEmpty)
    }

    @Test(arguments: [("CGI/1.1", true), ("cgi/1.0", true), ("", false), ("FastCGI/1.0", false)])
    func detectsCGI(_ value: String, _ expected: Bool) {
        #expect(CGIGateway.isCGI(environment: ["GATEWAY_INTERFACE": value]) == expected)
        #expect(!CGIGateway.isCGI(environment: [:]))
    }

    @Test func responseHeadersCannotBeInjected() throws {
        let response = FCGIResponse(status: 201, headers: [("X-Evil", "a\r\nSet-Cookie: b"), ("Content-Type", "application/json")], body: [1])
        let parsed = try FCGIResponse(parsingCGI: response.cgiBytes())
        #expect(parsed.status == 201)
        #expect(parsed.header("X-Evil") == "aSet-Cookie: b")
        #expect(parsed.header("Set-Cookie") == nil)
        #expect(String(decoding: response.cgiHead(), as: UTF8.self).hasPrefix("Status: 201 Created\r\n"))
    }
}
