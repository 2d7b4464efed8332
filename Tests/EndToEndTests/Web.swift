import Curl
import Foundation
import Handlers
import JobQueue
import Postgres

/// An HTTP client for the stack, through libcurl. One per thread.
final class Web {
    struct Answer {
        var status: Int
        var body: Data
        var headers: [(String, String)]
        var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
        var errorCode: String? { json["error"]?["code"]?.stringValue }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let client: HTTPClient
    let base: String

    init(_ base: String) throws {
        client = try HTTPClient()
        self.base = base
    }

    func call(_ method: String, _ path: String, body: String? = nil, key: String? = nil,
              headers: [(String, String)] = [("content-type", "application/json")], timeout: Double = 30) throws -> Answer {
        var h = headers
        if let key { h.append(("x-api-key", key)) }
        let r = try client.send(HTTPClientRequest(method: method, url: base + path, headers: h, body: Data((body ?? "").utf8),
                                                  connectTimeout: 5, timeout: timeout))
        return Answer(status: r.status, body: r.body, headers: r.headers)
    }
}

/// A tenant of its own, so end-to-end tests never see each other's jobs.
struct Tenant {
    let key: String
    let queue = "e2e-\(UUID().uuidString.prefix(10).lowercased())"

    init(databaseURL: String) throws {
        key = try Organizations.create(name: "e2e tenant", connection: Connection(url: databaseURL)).key
    }
}
