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
