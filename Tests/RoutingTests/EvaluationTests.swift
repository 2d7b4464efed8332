import Foundation
import Testing
import Routing

/// Routes every labelled request and measures, per split, how often the top pipeline is right
/// and how precise the auto-assignments at the default threshold are.
@Suite struct EvaluationTests {
    struct Metrics: CustomStringConvertible {
        var items = 0, labelled = 0, top1Correct = 0, autoAssigned = 0, autoCorrect = 0, nullAutoAssigned = 0

        var top1Accuracy: Double { labelled == 0 ? 0 : Double(top1Correct) / Double(labelled) }
        var autoAssignRate: Double { items == 0 ? 0 : Double(autoAssigned) / Double(items) }
        var autoAssignPrecision: Double { autoAssigned == 0 ? 1 : Double(autoCorrect) / Double(autoAssigned) }

        var description: String {
            "items \(items) (labelled \(labelled)), top-1 accuracy \(percent(top1Accuracy)) (\(top1Correct)/\(labelled)), "
                + "auto-assign rate \(percent(autoAssignRate)) (\(autoAssigned)/\(items)), "
                + "auto-assign precision \(percent(autoAssignPrecision)) (\(autoCorrect)/\(autoAssigned)), "
                + "null items auto-assigned \(nullAutoAssigned)"
        }

        private func percent(_ x: Double) -> String { "\(Double(Int((x * 1000).rounded())) / 10)%" }
    }

    static func evaluate(split: String, verbose: Bool = false) throws -> Metrics {
        let set = try LabelledSet.load()
        let router = OfflineRouter(pipelines: set.profiles)
        var m = Metrics()
        for item in set.items where item.split == split {
            let routing = router.route(item.text)
            let expected = item.expected.flatMap(set.id(ofKey:))
            let auto = routing.confidence >= OfflineRouter.defaultAutoAssignThreshold
            m.items += 1
            if let expected {
                m.labelled += 1
                if routing.primary?.pipelineId == expected { m.top1Correct += 1 }
            }
            if auto {
                m.autoAssigned += 1
                if expected != nil && routing.primary?.pipelineId == expected { m.autoCorrect += 1 }
                if item.expected == nil { m.nullAutoAssigned += 1 }
            }
            if verbose {
                let got = routing.primary.flatMap { p in set.pipelines.first { $0.id == p.pipelineId }?.key } ?? "-"
                let mark = expected == nil ? (auto ? "BAD " : "ok  ") : (routing.primary?.pipelineId == expected ? (auto ? "AUTO" : "ok  ") : (auto ? "BAD " : "miss"))
                print("\(mark) conf \(twoDecimals(routing.confidence)) want \(item.expected ?? "null") got \(got) | \(item.title) / \(item.description)\n      \(routing.reasoning)")
            }
        }
        return m
    }

    @Test func holdoutAutoAssignmentsArePrecise() throws {
        let verbose = ProcessInfo.processInfo.environment["ROUTING_EVAL_VERBOSE"] != nil
        let tune = try Self.evaluate(split: "tune", verbose: verbose)
        // Per-item listings only for the tune split: the holdout is never looked at item by item.
        let holdout = try Self.evaluate(split: "holdout")
        print("offline router, tune split:    \(tune)")
        print("offline router, holdout split: \(holdout)")
        #expect(holdout.items >= 30)
        #expect(holdout.autoAssignPrecision >= 0.95)
        #expect(holdout.nullAutoAssigned == 0)
        #expect(tune.nullAutoAssigned == 0)
    }
}

/// Two decimals for the verbose listing.
private func twoDecimals(_ x: Double) -> String { String(format: "%.2f", x) }
