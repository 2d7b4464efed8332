import Foundation
import Handlers

/// functions.json as the tests that sweep every function see it, so a function added to the
/// manifest is covered without editing them.
struct ManifestRoutes {
    static let standardMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    let entries: [FunctionManifest.Entry]

    init() throws {
        let data = try Data(contentsOf: Stack.repoRoot.appendingPathComponent("functions.json"))
        entries = try FunctionManifest.decode(data).functions
    }

    /// Functions reachable over HTTP.
    var routed: [FunctionManifest.Entry] { entries.filter { $0.method != nil && $0.path != nil } }

    /// Routed functions that read a request body.
    var takingBodies: [FunctionManifest.Entry] {
        routed.filter { ["POST", "PUT", "PATCH"].contains($0.method!.uppercased()) && $0.bodyLimitBytes > 0 }
    }

    /// The route with every `{param}` filled in: ids become 1, names a fixed word.
    static func concretePath(_ entry: FunctionManifest.Entry, id: String = "1", name: String = "sweep") -> String {
        entry.path!.split(separator: "/").map { seg -> String in
            guard seg.hasPrefix("{") && seg.hasSuffix("}") else { return String(seg) }
            return seg.lowercased().contains("id") ? id : name
        }.reduce("") { $0 + "/" + $1 }
    }

    /// The methods the manifest routes at a concrete path (HEAD comes with GET).
    func methods(at path: String) -> Set<String> {
        let segments = path.split(separator: "/")
        var found = Set<String>()
        for e in routed {
            let pattern = e.path!.split(separator: "/")
            guard pattern.count == segments.count else { continue }
            if zip(pattern, segments).allSatisfy({ p, s in (p.hasPrefix("{") && p.hasSuffix("}")) || p == s }) {
                found.insert(e.method!.uppercased())
            }
        }
        return found
    }

    /// The right key for a function's auth level, or nil for public ones.
    static func key(for auth: AuthLevel, tenantKey: String) -> String? {
        switch auth {
        case .none: return nil
        case .tenant: return tenantKey
        case .processor: return Stack.processorKey
        case .admin, .metrics: return Stack.adminKey
        }
    }
}
