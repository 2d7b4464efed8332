import FastCGI
import FoundationEssentials
import Handlers

extension HTTPRequest {
    /// The request that CGI/1.1 variables describe: the method; the path from DOCUMENT_URI, else
    /// SCRIPT_NAME + PATH_INFO, else REQUEST_URI without its query; the decoded QUERY_STRING; the
    /// `HTTP_*` headers plus the content type and length, named as HTTP names them in lowercase.
    init(cgi params: FCGIParams, body: Data) {
        var headers: [String: String] = [:]
        for (name, value) in params.values where name.hasPrefix("HTTP_") {
            headers[String(name.dropFirst(5).lowercased().map { $0 == "_" ? "-" : $0 })] = value
        }
        if let type = params["CONTENT_TYPE"], !type.isEmpty { headers["content-type"] = type }
        if let length = params["CONTENT_LENGTH"], !length.isEmpty { headers["content-length"] = length }
        self.init(method: params.method, path: Self.path(cgi: params),
                  query: Self.decodeQuery(params["QUERY_STRING"] ?? ""), headers: headers, body: body)
        receivedAt = params["REQUEST_START"].flatMap(Self.frontDoorTime)
        requestId = params["REQUEST_ID"].flatMap(Self.requestIdToken)
        isSecure = params["HTTPS"].map { $0.lowercased() == "on" } ?? false
        remoteAddress = params["REMOTE_ADDR"].flatMap { $0.isEmpty ? nil : String($0.prefix(100)) }
    }

    /// `$msec` (seconds since the epoch, to the millisecond) when it is sane: a clock that is
    /// off by more than an hour (another host's) is ignored rather than trusted.
    static func frontDoorTime(_ text: String) -> Date? {
        guard let seconds = Double(text), seconds.isFinite else { return nil }
        let date = Date(timeIntervalSince1970: seconds)
        return abs(date.timeIntervalSinceNow) < 3600 ? date : nil
    }

    /// A request id as nginx makes them (32 hex digits), or any plain token up to 64 characters.
    static func requestIdToken(_ text: String) -> String? {
        guard (1...64).contains(text.utf8.count),
              text.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) })
        else { return nil }
        return text
    }

    static func path(cgi params: FCGIParams) -> String {
        if let uri = params["DOCUMENT_URI"], !uri.isEmpty { return uri }
        let script = params["SCRIPT_NAME"] ?? "", info = params["PATH_INFO"] ?? ""
        if !script.isEmpty || !info.isEmpty { return script + info }
        if let uri = params["REQUEST_URI"], !uri.isEmpty {
            return String(uri.prefix { $0 != "?" && $0 != "#" })
        }
        return "/"
    }

    /// `a=1&b=x+y&c=%2F` as a dictionary; `+` is a space; a repeated name keeps its last value.
    static func decodeQuery(_ query: String) -> [String: String] {
        var result: [String: String] = [:]
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decodeComponent(pieces[0])
            guard !name.isEmpty else { continue }
            result[name] = pieces.count > 1 ? decodeComponent(pieces[1]) : ""
        }
        return result
    }

    static func decodeComponent(_ s: Substring) -> String {
        PercentDecoding.decode(s, plusAsSpace: true) ?? String(s)
    }
}

extension FCGIResponse {
    /// A function's answer as a CGI response: its status, its headers and a Content-Length.
    init(_ response: HTTPResponse) {
        self.init(status: response.status, headers: response.headers, body: [UInt8](response.body))
    }
}
