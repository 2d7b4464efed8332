/// A statement whose interpolations become `$n` bind parameters.
///
/// `"SELECT * FROM jobs WHERE id = \(id)"` sends `SELECT * FROM jobs WHERE id = $1` with `id`
/// as a separate value, so interpolated data can never change the statement's meaning. Raw text
/// enters only through the explicitly named `unsafe` entry points.
public struct SQL: ExpressibleByStringInterpolation, CustomStringConvertible, Sendable {
    /// Pieces are kept apart (rather than as text with `$n` already written) so that splicing
    /// renumbers exactly our placeholders, never a `$1` that happens to sit in a literal.
    enum Piece: Sendable {
        case text(String)
        /// Index into `binds`.
        case bind(Int)
    }

    private(set) var pieces: [Piece]
    /// Text-format values for `$1`, `$2`, …; nil is SQL NULL.
    public private(set) var binds: [String?]

    /// The statement text with `$1`, `$2`, … placeholders.
    public var text: String {
        var result = ""
        for piece in pieces {
            switch piece {
            case .text(let s): result += s
            case .bind(let index): result += "$\(index + 1)"
            }
        }
        return result
    }

    /// The statement text (never the bound values, which may be secrets).
    public var description: String { text }

    init(pieces: [Piece], binds: [String?]) {
        self.pieces = pieces
        self.binds = binds
    }

    /// A statement without parameters.
    public init(stringLiteral value: String) {
        self.init(pieces: [.text(value)], binds: [])
    }

    /// A statement built by interpolation.
    public init(stringInterpolation: StringInterpolation) {
        self.init(pieces: stringInterpolation.pieces, binds: stringInterpolation.binds)
    }

    /// Raw text with no parameters. Never pass data that came from outside the program.
    public static func unsafe(_ raw: String) -> SQL {
        SQL(pieces: [.text(raw)], binds: [])
    }

    /// Concatenation; the right side's parameters are renumbered after the left side's.
    public static func + (l: SQL, r: SQL) -> SQL {
        var result = l
        result.append(r)
        return result
    }

    /// Appends another statement fragment, renumbering its parameters.
    public static func += (l: inout SQL, r: SQL) {
        l.append(r)
    }

    mutating func append(_ other: SQL) {
        let offset = binds.count
        binds.append(contentsOf: other.binds)
        for piece in other.pieces {
            switch piece {
            case .text(let s): pieces.append(.text(s))
            case .bind(let index): pieces.append(.bind(index + offset))
            }
        }
    }

    /// Builds a `SQL` value from literal text and interpolated values.
    public struct StringInterpolation: StringInterpolationProtocol {
        var pieces: [Piece] = []
        var binds: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            pieces.reserveCapacity(interpolationCount * 2 + 1)
            binds.reserveCapacity(interpolationCount)
        }

        /// Literal statement text.
        public mutating func appendLiteral(_ s: String) {
            if !s.isEmpty { pieces.append(.text(s)) }
        }

        /// A value, sent as the next `$n` parameter.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T) {
            bind(value.postgresBindValue)
        }

        /// An optional value; nil is sent as SQL NULL.
        public mutating func appendInterpolation<T: PostgresEncodable>(_ value: T?) {
            bind(value?.postgresBindValue)
        }

        /// Splices another statement in place, renumbering its parameters.
        public mutating func appendInterpolation(_ fragment: SQL) {
            let offset = binds.count
            binds.append(contentsOf: fragment.binds)
            for piece in fragment.pieces {
                switch piece {
                case .text(let s): pieces.append(.text(s))
                case .bind(let index): pieces.append(.bind(index + offset))
                }
            }
        }

        /// Raw text, e.g. an identifier the code itself controls. Never pass outside data.
        public mutating func appendInterpolation(unsafe raw: String) {
            pieces.append(.text(raw))
        }

        private mutating func bind(_ value: String?) {
            binds.append(value)
            pieces.append(.bind(binds.count - 1))
        }
    }
}
