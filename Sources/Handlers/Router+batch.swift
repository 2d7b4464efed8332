import Dispatch
import FoundationEssentials

extension Router {
    /// Whether this request would share work with others answered alongside it (see
    /// `BatchingFunction.mayShare`).
    public func canShare(method: String, path: String, body: [UInt8]) -> Bool {
        guard case .function(let entry, _) = match(method: method, path: path),
              let function = function(named: entry.name) as? any BatchingFunction else { return false }
        return function.mayShare(body: body)
    }

    /// Answers requests that arrived together, in order. Those for a `BatchingFunction` share
    /// one call of it per function once they pass the body limit and key check; every other
    /// request is answered on its own, exactly as `handle` answers it.
    public func handle(all requests: [HTTPRequest], context: FunctionContext) -> [HTTPResponse] {
        guard requests.count > 1 else { return requests.map { handle($0, context: context) } }
        var responses = [HTTPResponse?](repeating: nil, count: requests.count)
        var groups: [String: [(index: Int, invocation: Invocation)]] = [:]
        var order: [String] = []
        for (i, request) in requests.enumerated() {
            guard case .function(let entry, let params) = match(method: request.method, path: request.path),
                  function(named: entry.name) is any BatchingFunction else {
                responses[i] = handle(request, context: context)
                continue
            }
            do {
                let caller = try admit(request, to: entry, context: context)
                if groups[entry.name] == nil { order.append(entry.name) }
                groups[entry.name, default: []].append((i, Invocation(request: request, pathParams: params, caller: caller)))
            } catch {
                responses[i] = envelope(error, function: entry.name, request: request, context: context)
                log(entry.name, request: request, status: responses[i]!.status, since: DispatchTime.now().uptimeNanoseconds, context: context)
            }
        }
        for name in order {
            let group = groups[name]!
            let function = function(named: name) as! any BatchingFunction
            let started = DispatchTime.now().uptimeNanoseconds
            let outcomes = function.handle(all: group.map(\.invocation), context: context)
            for (member, outcome) in zip(group, outcomes) {
                let response: HTTPResponse
                switch outcome {
                case .success(let r): response = r
                case .failure(let error): response = envelope(error, function: name, request: member.invocation.request, context: context)
                }
                responses[member.index] = response
                log(name, request: member.invocation.request, status: response.status, since: started, context: context)
            }
        }
        return zip(requests, responses).map { request, response in
            var r = response!
            // Requests answered through `handle` have it already.
            if let id = request.requestId, r.header("X-Request-Id") == nil { r.headers.append(("X-Request-Id", id)) }
            return r
        }
    }
}
