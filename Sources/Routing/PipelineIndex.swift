/// A BM25F index over an organization's pipelines: each pipeline is a document with three
/// fields (name, keywords, description), weighted so a word in the name or keywords counts
/// for more than one in the description.
struct PipelineIndex: Sendable {
    /// One pipeline's term frequencies per field.
    struct Document: Sendable {
        var id: Int64
        var name: String
        var fields: [[String: Int]]
        var lengths: [Int]
    }

    /// Field weights: name, keywords, description.
    static let fieldWeights: [Double] = [3.0, 2.5, 1.0]
    static let k1 = 1.2
    static let b = 0.5

    let documents: [Document]
    /// The number of pipelines each stem occurs in.
    let documentFrequency: [String: Int]
    let averageLengths: [Double]
    /// The stems a misspelt request word may be corrected to: the pipelines' and the lexicon's.
    let correctionVocabulary: Set<String>
    /// The score of one keyword match of a stem found in one pipeline only: the unit in which
    /// the router measures evidence, so the confidence means the same for 2 pipelines or 20.
    let unit: Double

    init(pipelines: [PipelineProfile]) {
        var documents: [Document] = []
        var df: [String: Int] = [:]
        for p in pipelines {
            let fieldTokens = [p.name, p.keywords.joined(separator: " . "), p.description].map(Tokenizer.tokens)
            let fields = fieldTokens.map { tokens in tokens.reduce(into: [String: Int]()) { $0[$1.stem, default: 0] += 1 } }
            documents.append(Document(id: p.id, name: p.name, fields: fields, lengths: fieldTokens.map(\.count)))
            for stem in Set(fields.flatMap(\.keys)) { df[stem, default: 0] += 1 }
        }
        self.documents = documents
        self.documentFrequency = df
        self.correctionVocabulary = Set(df.keys).union(Lexicon.knownStems)
        let n = Double(max(documents.count, 1))
        self.averageLengths = (0..<3).map { f in max(1, Double(documents.map { $0.lengths[f] }.reduce(0, +)) / n) }
        let kw = Self.fieldWeights[1]
        self.unit = Self.idf(documentCount: documents.count, frequency: 1) * kw * (Self.k1 + 1) / (kw + Self.k1)
    }

    /// Whether any pipeline contains `stem`.
    func contains(_ stem: String) -> Bool { documentFrequency[stem] != nil }

    static func idf(documentCount: Int, frequency: Int) -> Double {
        let n = Double(documentCount), f = Double(frequency)
        return RoutingMath.ln(1 + (n - f + 0.5) / (f + 0.5))
    }

    /// The BM25F score of `stem` for document `index`, and the heaviest field it occurs in
    /// (0 name, 1 keywords, 2 description).
    func score(_ stem: String, document index: Int) -> (score: Double, field: Int)? {
        guard let df = documentFrequency[stem] else { return nil }
        let doc = documents[index]
        var weighted = 0.0
        var bestField: Int?
        for f in 0..<3 {
            guard let tf = doc.fields[f][stem] else { continue }
            let norm = 1 - Self.b + Self.b * Double(doc.lengths[f]) / averageLengths[f]
            weighted += Self.fieldWeights[f] * Double(tf) / norm
            if bestField == nil { bestField = f }
        }
        guard let field = bestField else { return nil }
        let idf = Self.idf(documentCount: documents.count, frequency: df)
        return (idf * weighted * (Self.k1 + 1) / (weighted + Self.k1), field)
    }
}
