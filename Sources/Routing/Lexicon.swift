/// A word of text after phrase joining: either a plain word or a known phrase standing for
/// one canonical stem ("sign in" → "login").
struct PhraseWord: Sendable, Equatable {
    /// The word, or the words of the phrase joined by spaces.
    var text: String
    /// The canonical stem of a known phrase or alias; nil for a plain word.
    var canonical: String?
}

/// General English support vocabulary: phrases and aliases that mean one thing, and groups
/// of words that mean nearly the same in a support request. Nothing here names a particular
/// organization's pipelines; the pipelines' own words come from their profiles.
enum Lexicon {
    /// Joins known multi-word phrases and maps aliases to their canonical stem, longest phrase first.
    static func joinPhrases(_ words: [String]) -> [PhraseWord] {
        var result: [PhraseWord] = []
        var i = 0
        while i < words.count {
            var matched = false
            for length in stride(from: min(maxPhraseLength, words.count - i), through: 1, by: -1) {
                let candidate = words[i..<(i + length)].joined(separator: " ")
                if let canonical = phrases[candidate] {
                    result.append(PhraseWord(text: candidate, canonical: canonical))
                    i += length
                    matched = true
                    break
                }
            }
            if !matched {
                result.append(PhraseWord(text: words[i], canonical: nil))
                i += 1
            }
        }
        return result
    }

    /// The stems that mean nearly the same as `stem` in a support request (not `stem` itself).
    static func synonyms(of stem: String) -> [String] { synonymIndex[stem] ?? [] }

    /// Every stem the lexicon knows, so a misspelling can be matched against it.
    static let knownStems: Set<String> = Set(synonymIndex.keys)

    /// Whether the lexicon knows `stem`.
    static func isKnown(_ stem: String) -> Bool { knownStems.contains(stem) }

    /// Whether `stem` only says that something is wrong, not what ("broken", "error").
    static func isGenericSymptom(_ stem: String) -> Bool { genericSymptoms.contains(stem) }

    private static let genericSymptoms: Set<String> = Set(
        Tokenizer.tokens("broken error errors fail failed fails failure wrong glitch malfunction").map(\.stem))

    private static let maxPhraseLength = 4

    /// Phrase or alias → the word it stands for (stemmed when the table is built).
    private static let phraseTable: [String: [String]] = [
        "login": ["sign in", "signing in", "signed in", "log in", "logging in", "logged in", "log on",
                  "logon", "sign on", "log into", "signin", "sign into", "log me in"],
        "sso": ["single sign on", "saml", "okta"],
        "2fa": ["two factor", "2 factor", "multi factor", "two step", "2 step", "mfa", "otp", "totp",
                "authenticator", "authenticator app", "verification code", "security code"],
        "lockout": ["locked out", "lock out", "locked me out", "account locked", "account is locked"],
        "broken": ["not working", "doesnt work", "does not work", "isnt working", "is not working",
                   "stopped working", "stops working", "not work", "dont work", "wont work", "no longer works",
                   "not loading", "wont load", "does nothing", "doesnt do anything"],
        "error": ["went wrong", "goes wrong", "gone wrong"],
        "newhire": ["new hire", "new hires", "new employee", "new employees", "new starter", "new starters",
                    "new joiner", "new joiners", "new team member", "first day"],
        "offboarding": ["last day", "leaving the company", "left the company", "notice period"],
        "leave": ["time off", "day off", "days off", "paid leave", "annual leave", "sick leave", "sick day",
                  "sick days", "pto", "out of office"],
        "hr": ["human resources", "people team", "people ops"],
        "payroll": ["direct deposit", "pay slip", "pay stub"],
        "card": ["credit card", "debit card", "bank card", "card on file"],
        "refund": ["money back", "charge back", "chargeback"],
        "ratelimit": ["rate limit", "rate limited", "rate limiting", "too many requests", "throttled", "throttling"],
        "poc": ["proof of concept"],
        "outage": ["is down", "was down", "went down", "are down", "goes down", "down for", "downtime"],
        "xss": ["cross site scripting"],
        "injection": ["sql injection", "code injection"],
        "timezone": ["time zone", "time zones"],
        "setup": ["set up", "setting up"],
        "ddos": ["denial of service", "dos attack"],
        "breach": ["unauthorized access", "unauthorised access", "unauthorized login", "unauthorised login"],
        "finance": ["accounting", "accountant", "accountants", "accounts payable", "finance team", "bookkeeping"],
        "apikey": ["api key", "api keys", "api token", "api tokens", "access token", "access tokens"],
    ]

    private static let phrases: [String: String] = {
        var table: [String: String] = [:]
        for (target, aliases) in phraseTable {
            let canonical = PorterStemmer.stem(target)
            for alias in aliases { table[alias] = canonical }
        }
        return table
    }()

    /// Groups of words a requester uses interchangeably. Written as plain words and phrases;
    /// they are tokenized like any text, so inflections and phrases are covered.
    private static let groups: [String] = [
        // money
        "invoice bill billing statement receipt finance",
        "charge charged overcharge overcharged fee debit",
        "payment pay paid paying transaction card",
        "refund reimbursement credit",
        "subscription renewal renew plan downgrade upgrade",
        "price pricing cost costs quote quotation discount",
        "cancel cancellation terminate",
        // access
        "login password credentials authenticate authentication",
        "password passcode passphrase reset",
        "2fa sso",
        "permission permissions access role roles rights privilege admin",
        "invite invitation invited",
        "lockout locked lock blocked",
        // technical faults
        "crash crashes crashed freeze freezes frozen hang hangs stuck",
        "error errors exception failure fail failed fails failing",
        "bug bugs defect glitch broken malfunction",
        "slow slowness latency lag performance timeout",
        "outage unavailable unreachable offline broken",
        "api endpoint webhook sdk",
        "integration integrate connector plugin addon sync",
        // buying
        "demo demonstration walkthrough presentation",
        "quote quotation proposal estimate rfp tender",
        "trial evaluation evaluate evaluating pilot poc compare comparison competitor alternative",
        "purchase buy buying procurement procure",
        "partnership partner reseller affiliate",
        "enterprise corporate organization",
        // security
        "phishing phish spoof spoofed spoofing scam fraudulent impersonation",
        "breach breached leak leaked exposed exposure compromised hacked hack intrusion unauthorized",
        "vulnerability exploit cve xss injection csrf disclosure",
        "malware virus trojan ransomware ransom spyware",
        "suspicious unusual unrecognized strange",
        "attack ddos flooded bruteforce",
        // data
        "report reports reporting statistics summary",
        "dashboard dashboards chart charts graph visualization widget",
        "export download csv excel xlsx spreadsheet dump extract",
        "analytics metrics metric kpi kpis insights statistics",
        // people
        "onboarding onboard newhire orientation",
        "offboarding resignation resign",
        "laptop computer equipment hardware macbook monitor",
        "payroll salary payslip paycheck wage wages overtime compensation",
        "leave vacation holiday pto sick parental maternity paternity",
        "benefits insurance pension enrollment",
        "hr personnel employee employment staff",
        "expense expenses reimbursement reimbursed",
    ]

    private static let synonymIndex: [String: [String]] = {
        var index: [String: Set<String>] = [:]
        for group in groups {
            let stems = Set(Tokenizer.tokens(group).map(\.stem))
            for stem in stems { index[stem, default: []].formUnion(stems.subtracting([stem])) }
        }
        return index.mapValues { $0.sorted() }
    }()
}
