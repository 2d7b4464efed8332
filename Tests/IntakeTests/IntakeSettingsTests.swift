import Intake
import Testing

struct IntakeSettingsTests {
    @Test func noKeyMeansOfflineWithTheDefaultThreshold() throws {
        let s = try IntakeSettings(environment: ["OPENAI_MODEL": "ignored-without-a-key", "OPENAI_API_KEY": "  "])
        #expect(s.llm == nil)
        #expect(s.autoAssignThreshold == 0.7)
    }

    @Test func keyTakesDefaultsAndOverrides() throws {
        let defaults = try #require(try IntakeSettings(environment: ["OPENAI_API_KEY": "sk-test-1234"]).llm)
        #expect(defaults == LLMSettings(apiKey: "sk-test-1234"))
        #expect(defaults.completionsURL == "https://api.openai.com/v1/chat/completions")

        let s = try IntakeSettings(environment: [
            "OPENAI_API_KEY": "sk-test-1234", "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1/", "OPENAI_MODEL": "llama3.1",
            "OPENAI_MAX_TOKENS": "256", "OPENAI_TIMEOUT_SECONDS": "2.5", "ROUTING_AUTO_ASSIGN_THRESHOLD": "0.85",
        ])
        #expect(s.llm == LLMSettings(apiKey: "sk-test-1234", baseURL: "http://127.0.0.1:11434/v1", model: "llama3.1",
                                     maxTokens: 256, timeoutSeconds: 2.5))
        #expect(s.llm?.completionsURL == "http://127.0.0.1:11434/v1/chat/completions")
        #expect(s.autoAssignThreshold == 0.85)
    }

    @Test(arguments: [
        ("ROUTING_AUTO_ASSIGN_THRESHOLD", "1.5"),
        ("ROUTING_AUTO_ASSIGN_THRESHOLD", "high"),
        ("OPENAI_BASE_URL", "ftp://example.org"),
        ("OPENAI_MAX_TOKENS", "0"),
        ("OPENAI_MAX_TOKENS", "12.5"),
        ("OPENAI_TIMEOUT_SECONDS", "-1"),
        ("OPENAI_TIMEOUT_SECONDS", "nan"),
    ])
    func badValuesNameTheVariableNotTheKey(name: String, value: String) {
        let key = "sk-secret-value-0000"
        do {
            _ = try IntakeSettings(environment: ["OPENAI_API_KEY": key, name: value])
            Issue.record("\(name)=\(value) was accepted")
        } catch let e as IntakeError {
            #expect(e.code == .configuration)
            #expect(e.field == name)
            #expect(e.message.contains(name))
            #expect(!e.message.contains(key))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func printingTheSettingsNeverShowsTheKey() throws {
        let key = "sk-never-printed-9876"
        let s = try #require(try IntakeSettings(environment: ["OPENAI_API_KEY": key]).llm)
        var dumped = ""
        dump(s, to: &dumped)
        for text in ["\(s)", String(reflecting: s), dumped, "\(try IntakeSettings(environment: ["OPENAI_API_KEY": key]))"] {
            #expect(!text.contains(key), "\(text)")
        }
    }
}
