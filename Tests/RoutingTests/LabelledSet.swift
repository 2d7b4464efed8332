import Foundation
import Testing
import Routing

/// The labelled intake requests in Fixtures/labelled-intake.json: an org's pipelines and
/// requests with the pipeline a person would pick (or null: never auto-assign).
struct LabelledSet: Decodable {
    struct Pipeline: Decodable {
        var key: String
        var id: Int64
        var name: String
        var description: String
        var keywords: [String]

        var profile: PipelineProfile { PipelineProfile(id: id, name: name, description: description, keywords: keywords) }
    }

    struct Item: Decodable, CustomTestStringConvertible {
        var title: String
        var description: String
        var expected: String?
        var split: String
        var kind: String

        var text: IntakeText { IntakeText(title: title, description: description) }
        var testDescription: String { "\(title) / \(description)" }
    }

    var pipelines: [Pipeline]
    var items: [Item]

    var profiles: [PipelineProfile] { pipelines.map(\.profile) }

    func id(ofKey key: String) -> Int64? { pipelines.first { $0.key == key }?.id }

    static func load(filePath: String = #filePath) throws -> LabelledSet {
        let url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/labelled-intake.json")
        return try JSONDecoder().decode(LabelledSet.self, from: Data(contentsOf: url))
    }

    /// Loaded once for the table-driven tests' arguments; a broken fixture fails loudly.
    static let shared: LabelledSet = {
        do { return try load() } catch { fatalError("cannot load the labelled set: \(error)") }
    }()
}
