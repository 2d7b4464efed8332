/// What a crontab command asks for, as `cron-driver run` sees it.
///
/// `[/some/path/]cron-driver once FUNCTION [BODY]`, with words quoted the way `/bin/sh` would
/// take them, runs in process; everything else (pipes, redirections, variables, other programs,
/// extra options) is handed to `/bin/sh -c` unchanged, so nothing changes meaning.
public enum CronCommand: Sendable, Equatable {
    /// A call to one function through the driver, in process.
    case callFunction(name: String, body: String?)
    /// Any other command, for `/bin/sh -c`.
    case shell(String)

    /// Classifies an entry's command (and its `%` standard input, which forces the shell).
    public init(_ command: String, standardInput: String? = nil) {
        if standardInput == nil, let words = Self.simpleWords(command), words.count == 3 || words.count == 4,
           words[0].split(separator: "/").last == "cron-driver", words[1] == "once",
           !words[2].isEmpty, !words[2].hasPrefix("-") {
            self = .callFunction(name: words[2], body: words.count == 4 ? words[3] : nil)
        } else {
            self = .shell(command)
        }
    }

    /// The entry's command classified.
    public init(_ entry: Crontab.Entry) {
        self.init(entry.command, standardInput: entry.standardInput)
    }

    /// A short label for log lines: the function's name, or the command.
    public var label: String {
        switch self {
        case .callFunction(let name, _): name
        case .shell(let command): command
        }
    }

    /// Splits `text` into words like the shell, or returns nil when the shell would do more
    /// than split and unquote (expansion, globbing, redirection, several commands).
    static func simpleWords(_ text: String) -> [String]? {
        // Characters that make the shell do something beyond word splitting when unquoted.
        let special: Set<Character> = ["|", "&", ";", "<", ">", "(", ")", "$", "`", "*", "?", "[", "]",
                                       "#", "~", "{", "}", "!", "=", "\n"]
        var words: [String] = []
        var current: String?
        var chars = text.makeIterator()
        while let ch = chars.next() {
            switch ch {
            case " ", "\t":
                if let word = current { words.append(word); current = nil }
            case "'":
                var word = current ?? ""
                while true {
                    guard let c = chars.next() else { return nil }  // unterminated
                    if c == "'" { break }
                    word.append(c)
                }
                current = word
            case "\"":
                var word = current ?? ""
                while true {
                    guard let c = chars.next() else { return nil }
                    if c == "\"" { break }
                    if c == "$" || c == "`" { return nil }
                    if c == "\\" {
                        guard let escaped = chars.next() else { return nil }
                        if !["$", "`", "\"", "\\", "\n"].contains(escaped) { word.append("\\") }
                        if escaped != "\n" { word.append(escaped) }
                        continue
                    }
                    word.append(c)
                }
                current = word
            case "\\":
                guard let escaped = chars.next() else { return nil }
                if escaped != "\n" { current = (current ?? "") + String(escaped) }
            default:
                if special.contains(ch) { return nil }
                current = (current ?? "") + String(ch)
            }
        }
        if let word = current { words.append(word) }
        return words
    }
}
