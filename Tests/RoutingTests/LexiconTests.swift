import Testing
@testable import Routing

@Suite struct LexiconTests {
    @Test(arguments: [
        ("invoic", ["bill", "receipt"]),
        ("login", ["password", "credenti"]),
        ("crash", ["freez", "hang"]),
        ("payrol", ["salari", "payslip"]),
        ("phish", ["spoof", "scam"]),
        ("export", ["csv", "spreadsheet"]),
        ("demo", ["walkthrough"]),
    ])
    func expandsSynonyms(stem: String, expected: [String]) {
        let synonyms = Lexicon.synonyms(of: stem)
        for s in expected { #expect(synonyms.contains(s), "\(stem) should expand to \(s)") }
        #expect(!synonyms.contains(stem))
    }

    @Test(arguments: [
        (["i", "cant", "sign", "in"], ["i", "cant", "login"]),
        (["single", "sign", "on", "please"], ["sso", "please"]),
        (["it", "is", "not", "working"], ["it", "broken"]),
        (["locked", "out", "again"], ["lockout", "again"]),
        (["too", "many", "requests"], ["ratelimit"]),
    ])
    func joinsPhrases(words: [String], expected: [String]) {
        #expect(Lexicon.joinPhrases(words).map { $0.canonical ?? $0.text } == expected)
    }

    /// A word a request uses for a pipeline's keyword still finds that pipeline.
    @Test(arguments: [
        ("My bill is wrong", Int64(1)), ("Need my salary slip", Int64(2)), ("Cannot authenticate", Int64(3)),
    ])
    func synonymsReachPipelines(title: String, expected: Int64) {
        let router = OfflineRouter(pipelines: [
            PipelineProfile(id: 1, name: "Accounts receivable", description: "Questions about invoices", keywords: ["invoice"]),
            PipelineProfile(id: 2, name: "People", description: "Payroll and benefits for staff", keywords: ["payroll"]),
            PipelineProfile(id: 3, name: "Identity", description: "Login and password problems", keywords: ["login"]),
        ])
        let routing = router.route(IntakeText(title: title))
        #expect(routing.primary?.pipelineId == expected)
        #expect(routing.reasoning.contains("≈"))
    }
}
