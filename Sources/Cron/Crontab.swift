/// A user crontab as cron reads it: blank lines, `#` comments, `NAME=value` environment
/// settings and entries `<schedule> <command>`.
///
/// As in Vixie cron, an environment setting applies to the entries below it, `%` in a command
/// ends the command and starts its standard input (further `%` become newlines), and `\%` is a
/// literal percent sign.
public struct Crontab: Sendable, Equatable {
    /// One scheduled command.
    public struct Entry: Sendable, Equatable {
        /// The 1-based line number in the file.
        public var line: Int
        /// When it fires.
        public var schedule: CronSchedule
        /// The command as the shell receives it: up to the first unescaped `%`, with `\%` unescaped.
        public var command: String
        /// The text after the first unescaped `%`, with `%` turned into newlines; nil without one.
        public var standardInput: String?
        /// The environment settings that appear above this entry, later ones winning.
        public var environment: [String: String]
    }

    /// The entries in file order.
    public var entries: [Entry]
    /// Every environment setting in the file, later ones winning.
    public var environment: [String: String]

    /// Parses a crontab's text. Throws `CronError` with `line` set to the offending line.
    public init(parsing text: String) throws(CronError) {
        var entries: [Entry] = []
        var environment: [String: String] = [:]
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let number = index + 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let content = line.drop(while: { $0 == " " || $0 == "\t" })
            if content.isEmpty || content.hasPrefix("#") { continue }

            if let (name, value) = Self.environmentSetting(content) {
                environment[name] = value
                continue
            }
            guard let first = content.first, first == "*" || first == "@" || first.isASCII && first.isNumber else {
                throw CronError(.invalidLine,
                                "not a comment, an environment setting (NAME=value) or an entry (schedule and command): \"\(content)\"",
                                line: number)
            }
            do throws(CronError) {
                let (scheduleText, rest) = Self.splitSchedule(content)
                let schedule = try CronSchedule(parsing: String(scheduleText))
                let commandText = rest.drop(while: { $0 == " " || $0 == "\t" })
                guard !commandText.allSatisfy({ $0 == " " || $0 == "\t" }) else {
                    throw CronError(.missingCommand, "the entry \"\(scheduleText)\" has no command")
                }
                let (command, input) = Self.splitPercent(commandText)
                entries.append(Entry(line: number, schedule: schedule, command: command, standardInput: input,
                                     environment: environment))
            } catch {
                throw error.at(line: number)
            }
        }
        self.entries = entries
        self.environment = environment
    }

    /// `NAME=value` or `NAME = value`; quotes around the value are removed, as cron does.
    static func environmentSetting(_ text: Substring) -> (String, String)? {
        guard let first = text.first, first == "_" || first.isASCII && first.isLetter else { return nil }
        let name = text.prefix(while: { $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) })
        let afterName = text[name.endIndex...].drop(while: { $0 == " " || $0 == "\t" })
        guard afterName.first == "=" else { return nil }
        var value = Substring(String(afterName.dropFirst()).trimmingWhitespace())
        if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
            value = value.dropFirst().dropLast()
        }
        return (String(name), String(value))
    }

    /// The schedule (a macro, or five fields) and what follows it.
    static func splitSchedule(_ text: Substring) -> (Substring, Substring) {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        let fieldCount = text.hasPrefix("@") ? 1 : 5
        var index = text.startIndex
        for n in 0..<fieldCount {
            if n > 0 { index = text[index...].firstIndex(where: { !isBlank($0) }) ?? text.endIndex }
            index = text[index...].firstIndex(where: isBlank) ?? text.endIndex
        }
        return (text[..<index], text[index...])
    }

    /// Splits at the first unescaped `%` and applies cron's percent rules.
    static func splitPercent(_ text: Substring) -> (String, String?) {
        var command = ""
        var input: String?
        var escaped = false
        for ch in text {
            if input != nil {
                input!.append(ch == "%" ? "\n" : ch)
                continue
            }
            if escaped {
                if ch != "%" { command.append("\\") }
                command.append(ch)
                escaped = false
            } else if ch == "\\" {
                escaped = true
            } else if ch == "%" {
                input = ""
            } else {
                command.append(ch)
            }
        }
        if escaped { command.append("\\") }
        return (command.trimmingWhitespace(), input)
    }
}
