import Testing
@testable import Routing

@Suite struct TokenizerTests {
    @Test(arguments: [
        ("caresses", "caress"), ("ponies", "poni"), ("cats", "cat"), ("feed", "feed"), ("agreed", "agre"),
        ("plastered", "plaster"), ("motoring", "motor"), ("sing", "sing"), ("conflated", "conflat"),
        ("hopping", "hop"), ("filing", "file"), ("happy", "happi"), ("relational", "relat"),
        ("generalization", "gener"), ("hopeful", "hope"), ("goodness", "good"), ("adjustment", "adjust"),
        ("controll", "control"), ("rate", "rate"), ("invoice", "invoic"), ("invoices", "invoic"),
        ("invoiced", "invoic"), ("crashes", "crash"), ("crashing", "crash"), ("billing", "bill"),
        ("passwords", "password"), ("reports", "report"), ("reporting", "report"), ("dashboards", "dashboard"),
        ("analytics", "analyt"), ("onboarding", "onboard"), ("permissions", "permiss"), ("api", "api"),
        ("2fa", "2fa"), ("é", "é"), ("as", "as"),
    ])
    func porterStems(word: String, stem: String) {
        #expect(PorterStemmer.stem(word) == stem)
    }

    @Test(arguments: [
        ("Can't log in!", ["cant", "log", "in"]),
        ("Sarah's last day", ["sarah", "last", "day"]),
        ("We’re seeing HTTP-500 errors", ["were", "seeing", "http", "500", "errors"]),
        ("'quoted' words", ["quoted", "words"]),
        ("sign-in/SSO", ["sign", "in", "sso"]),
        ("", []),
    ])
    func splitsWords(text: String, words: [String]) {
        #expect(Tokenizer.words(text) == words)
    }

    @Test(arguments: [
        ("Invoices were charged twice", ["invoic", "charg", "twice"]),
        ("I can't sign in to my account", ["login", "account"]),
        ("Please help, it doesn't work", ["broken"]),
        ("Set up single sign-on with two-factor", ["setup", "sso", "2fa"]),
        ("New hire starting Monday", ["newhir"]),
        ("Question about services. Tell me more", []),
        ("Hi, is anyone there?", []),
        ("Error 500 on order 12345", ["error", "order"]),
    ])
    func contentStems(text: String, stems: [String]) {
        #expect(Tokenizer.tokens(text).map(\.stem) == stems)
    }

    @Test(arguments: [
        ("invoce", "invoic"), ("pasword", "password"), ("breech", "breach"), ("analitics", "analyt"),
        ("dashbord", "dashboard"),
    ])
    func correctsOneTypo(word: String, corrected: String) {
        let index = PipelineIndex(pipelines: [])
        #expect(QueryTerm.spellingCorrection(of: PorterStemmer.stem(word), index: index) == corrected)
    }

    @Test(arguments: ["design", "change", "teh", "form", "plant"])
    func leavesOrdinaryWordsAlone(word: String) {
        let index = PipelineIndex(pipelines: [])
        #expect(QueryTerm.spellingCorrection(of: PorterStemmer.stem(word), index: index) == nil)
    }

    @Test(arguments: [
        (1.0, 0.0), (2.718281828459045, 1.0), (0.5, -0.6931471805599453), (1e-6, -13.815510557964274),
        (12345.678, 9.421061321291832), (0.1, -2.302585092994046),
    ])
    func naturalLogarithm(x: Double, expected: Double) {
        #expect(abs(RoutingMath.ln(x) - expected) < 1e-9)
    }

    @Test(arguments: [(0.0, 1.0), (1.0, 2.718281828459045), (-2.5, 0.0820849986238988), (10.0, 22026.465794806718)])
    func exponential(x: Double, expected: Double) {
        #expect(abs(RoutingMath.exp(x) - expected) / expected < 1e-12)
    }
}
