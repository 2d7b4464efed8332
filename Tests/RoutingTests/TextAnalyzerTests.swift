import Testing
import Routing

@Suite struct TextAnalyzerTests {
    static let router = OfflineRouter(pipelines: LabelledSet.shared.profiles)

    @Test(arguments: [
        ("App crashes on startup", "Version 3.2.1 crashes every time.", "bug_report", "medium"),
        ("Site is down for everyone", "Production outage since 9:00, all users affected.", "incident", "critical"),
        ("Locked out", "I cannot log in and have a deadline today.", "access_request", "high"),
        ("Refund for invoice INV-2291", "We were charged twice.", "billing", "medium"),
        ("Feature request: dark mode", "It would be great to have a dark theme. No rush.", "feature_request", "low"),
        ("How do I export my data?", "", "question", "low"),
        ("Hello", "", "other", "low"),
    ])
    func readsTypeAndUrgency(title: String, description: String, type: String, urgency: String) {
        let analysis = Self.router.route(IntakeText(title: title, description: description)).analysis
        #expect(analysis.requestType == type)
        #expect(analysis.urgency == urgency)
    }

    @Test func complexityGrowsWithLengthAndTopics() {
        let short = Self.router.route(IntakeText(title: "Refund please")).analysis
        #expect(short.complexity == "low")
        let long = Self.router.route(IntakeText(
            title: "Invoice wrong, login broken and dashboard export fails",
            description: """
            Our invoice for May shows the wrong VAT, two of our admins are locked out after the SSO change, the revenue \
            dashboard export to CSV fails with an error, and we also want a quote for the enterprise plan with a demo of \
            the analytics features for our finance department and the leadership team before the renewal next quarter.
            """)).analysis
        #expect(long.complexity == "high")
    }

    @Test func keywordsAndEntities() {
        let analysis = Self.router.route(IntakeText(
            title: "Invoice #INV-20391 charged twice",
            description: "Contact billing@acme.io about the $480 charge; see https://acme.io/x. Our Okta admin is Priya Patel.")).analysis
        #expect(analysis.keywords.first == "invoice" || analysis.keywords.first == "charged")
        #expect(analysis.keywords.count <= 8)
        for entity in ["#INV-20391", "billing@acme.io", "$480", "https://acme.io/x", "Priya Patel"] {
            #expect(analysis.entities.contains(entity), "missing \(entity) in \(analysis.entities)")
        }
    }
}
