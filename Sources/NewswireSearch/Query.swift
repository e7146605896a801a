import NewswireModel

/// A malformed query: what is wrong and where.
public struct QueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Unicode scalar offset in the query text where the problem starts.
    public var position: Int
    /// What is wrong and how to fix it.
    public var message: String

    /// Creates an error at a scalar offset.
    public init(position: Int, message: String) {
        self.position = position
        self.message = message
    }

    /// `message (at scalar offset N)`.
    public var description: String { "\(message) (at character \(position))" }
}

/// A parsed query: an AND of groups, each an OR of alternatives, each an AND of conditions; minus exclusions.
struct ParsedQuery: Sendable, Hashable {
    /// Which field(s) a text condition searches.
    enum Scope: Sendable, Hashable {
        case titleOrBody
        case title
    }

    /// One atomic condition on an article.
    enum Condition: Sendable, Hashable {
        /// A word, CJK run or phrase in title or body (or title only).
        case text(TermPattern, Scope)
        /// Source contains this normalised text.
        case source(String)
        /// A participant or reporter equals this normalised name.
        case person(String)
        /// Published at or after this instant (epoch seconds).
        case publishedFrom(Int64)
        /// Published before this instant (epoch seconds).
        case publishedBefore(Int64)

        var textPattern: (TermPattern, Scope)? {
            if case .text(let pattern, let scope) = self { return (pattern, scope) }
            return nil
        }
    }

    /// Conditions that must all hold.
    typealias Conjunction = [Condition]

    /// Every group must hold; a group holds when any of its alternatives holds.
    var groups: [[Conjunction]] = []
    /// No exclusion may hold.
    var exclusions: [Conjunction] = []

    /// Every positive text condition (for scoring and highlighting).
    var positiveTexts: [(TermPattern, Scope)] {
        groups.flatMap { $0.flatMap { $0.compactMap(\.textPattern) } }
    }

    /// True for an AND of conditions only (no OR, no exclusion).
    var isPureConjunction: Bool { exclusions.isEmpty && groups.allSatisfy { $0.count == 1 } }
}

/// Parser for Newswire's query language (see README "Query language").
struct QueryParser {
    private let scalars: [Unicode.Scalar]
    private var index = 0

    private enum Item {
        case conjunction(ParsedQuery.Conjunction, excluded: Bool, position: Int)
        case or(position: Int)
    }

    static let fields = ["title", "source", "person", "after", "before"]

    /// Parses `text`; throws a ``QueryError`` naming the scalar offset of the first problem.
    static func parse(_ text: String) throws(QueryError) -> ParsedQuery {
        var parser = QueryParser(scalars: Array(text.unicodeScalars))
        return try parser.parseAll()
    }

    private init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

    /// Unicode's White_Space property, from its fixed list (stable since Unicode 6.3): asking the scalar's
    /// properties cost several hundred instructions per CJK character of every query.
    static func isSpace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }
    private static func isOpenQuote(_ s: Unicode.Scalar) -> Bool {
        s == "\"" || s == "\u{FF02}" || s == "\u{201C}"
    }
    private static func isCloseQuote(_ s: Unicode.Scalar) -> Bool {
        s == "\"" || s == "\u{FF02}" || s == "\u{201D}"
    }

    private mutating func parseAll() throws(QueryError) -> ParsedQuery {
        var items: [Item] = []
        while true {
            while index < scalars.count, Self.isSpace(scalars[index]) { index += 1 }
            guard index < scalars.count else { break }
            let start = index
            var excluded = false
            if scalars[index] == "-" || scalars[index] == "\u{FF0D}" {
                excluded = true
                index += 1
                if index >= scalars.count || Self.isSpace(scalars[index]) {
                    throw QueryError(
                        position: start,
                        message: "'-' must be followed directly by a term, phrase or field to exclude, e.g. -北京")
                }
            }
            if !excluded, matchesWord(Self.orWord) {
                index += 2
                items.append(.or(position: start))
                continue
            }
            let conditions = try parseAtom(start: start)
            if conditions.isEmpty {
                if excluded {
                    throw QueryError(
                        position: start, message: "nothing searchable after '-': exclude a word, CJK text or phrase")
                }
                continue  // a bare punctuation token: nothing to search for, ignore it
            }
            items.append(.conjunction(conditions, excluded: excluded, position: start))
        }
        return try assemble(items)
    }

    /// Whether the scalars at `index` spell `word` followed by whitespace or the end.
    private func matchesWord(_ word: [Unicode.Scalar]) -> Bool {
        guard hasPrefix(word, at: index) else { return false }
        return index + word.count == scalars.count || Self.isSpace(scalars[index + word.count])
    }

    /// Whether `scalars[at...]` starts with `word` (no allocation: this runs for every token).
    private func hasPrefix(_ word: [Unicode.Scalar], at start: Int) -> Bool {
        guard start + word.count <= scalars.count else { return false }
        for k in word.indices where scalars[start + k] != word[k] { return false }
        return true
    }

    private static let orWord: [Unicode.Scalar] = Array("OR".unicodeScalars)
    private static let fieldScalars: [(String, [Unicode.Scalar])] = fields.map { ($0, Array($0.unicodeScalars)) }

    private mutating func parseAtom(start: Int) throws(QueryError) -> ParsedQuery.Conjunction {
        // Field prefix?
        for (field, name) in Self.fieldScalars {
            let end = index + name.count
            guard end < scalars.count, hasPrefix(name, at: index), scalars[end] == ":" || scalars[end] == "\u{FF1A}"
            else { continue }
            let fieldStart = index
            index = end + 1
            let valueStart = index
            guard index < scalars.count, !Self.isSpace(scalars[index]) else {
                throw QueryError(
                    position: fieldStart, message: "'\(field):' has no value; write e.g. \(field):\(example(field))")
            }
            let (value, quoted) = try readValue()
            return try fieldConditions(field, value: value, quoted: quoted, at: valueStart, fieldStart: fieldStart)
        }
        let (value, quoted) = try readValue()
        return try textConditions(value, quoted: quoted, scope: .titleOrBody, at: start)
    }

    private func example(_ field: String) -> String {
        switch field {
        case "title": return "北京"
        case "source": return "新华社"
        case "person": return "张三"
        default: return "2024-04-01"
        }
    }

    /// Reads a quoted phrase or a bare token (up to whitespace or a quote).
    private mutating func readValue() throws(QueryError) -> (String, Bool) {
        if index < scalars.count, Self.isOpenQuote(scalars[index]) {
            let open = index
            index += 1
            let start = index
            while index < scalars.count, !Self.isCloseQuote(scalars[index]) { index += 1 }
            guard index < scalars.count else {
                throw QueryError(position: open, message: "unterminated quote: add a closing \" to end the phrase")
            }
            let phrase = scalars[start..<index]
            index += 1
            if phrase.allSatisfy(Self.isSpace) {
                throw QueryError(position: open, message: "empty phrase \"\": put the words to match between the quotes")
            }
            return (Self.string(phrase), true)
        }
        let start = index
        while index < scalars.count, !Self.isSpace(scalars[index]), !Self.isOpenQuote(scalars[index]) { index += 1 }
        return (Self.string(scalars[start..<index]), false)
    }

    /// The scalars as a String, UTF-8 encoded straight into its storage (appending scalars to a
    /// `String.UnicodeScalarView` one by one costs several times more, and this runs for every token).
    private static func string(_ scalars: ArraySlice<Unicode.Scalar>) -> String {
        String(unsafeUninitializedCapacity: scalars.count * 4) { buffer in
            var count = 0
            for scalar in scalars {
                UTF8.encode(scalar) { byte in
                    buffer[count] = byte
                    count += 1
                }
            }
            return count
        }
    }

    private func fieldConditions(
        _ field: String, value: String, quoted: Bool, at position: Int, fieldStart: Int
    ) throws(QueryError) -> ParsedQuery.Conjunction {
        switch field {
        case "title":
            let conditions = try textConditions(value, quoted: quoted, scope: .title, at: position)
            if conditions.isEmpty {
                throw QueryError(
                    position: position, message: "title: needs a word or CJK text to look for in titles, got '\(value)'")
            }
            return conditions
        case "source":
            let normalized = normalizeName(value)
            guard !normalized.isEmpty else {
                throw QueryError(position: position, message: "source: needs an outlet name, e.g. source:新华社")
            }
            return [.source(normalized)]
        case "person":
            let normalized = normalizeName(value)
            guard !normalized.isEmpty else {
                throw QueryError(position: position, message: "person: needs a name, e.g. person:张三")
            }
            return [.person(normalized)]
        default:
            guard let time = PublishedTime(iso8601: value, defaultOffset: PublishedTime.chinaStandardOffset) else {
                throw QueryError(
                    position: position,
                    message:
                        "\(field): expects a date YYYY-MM-DD (China time) or an RFC 3339 time such as "
                        + "2024-04-01T08:00:00+08:00, got '\(value)'")
            }
            return field == "after" ? [.publishedFrom(time.secondsSinceEpoch)] : [.publishedBefore(time.secondsSinceEpoch)]
        }
    }

    /// Splits text into conditions: a quoted phrase is one pattern; a bare token gives one condition per word and
    /// one per CJK run (a run of 3+ characters is matched as a phrase, i.e. an exact substring).
    private func textConditions(
        _ value: String, quoted: Bool, scope: ParsedQuery.Scope, at position: Int
    ) throws(QueryError) -> ParsedQuery.Conjunction {
        var units: [AnalyzedUnit] = []
        Analyzer.units(
            of: NormalizedText(value, keepOrigins: false), basePosition: 0, into: &units, joiningSpacedCJK: quoted)
        if units.isEmpty {
            if quoted {
                throw QueryError(
                    position: position,
                    message: "phrase \"\(value)\" has no letters, digits or CJK characters to search for")
            }
            return []
        }
        if quoted { return [.text(TermPattern(units: units[...]), scope)] }
        var conditions: ParsedQuery.Conjunction = []
        var i = 0
        while i < units.count {
            var j = i + 1
            if units[i].isCJK {
                while j < units.count, units[j].isCJK, units[j].position == units[j - 1].position + 1 { j += 1 }
            }
            let condition = ParsedQuery.Condition.text(TermPattern(units: units[i..<j]), scope)
            if !conditions.contains(condition) { conditions.append(condition) }
            i = j
        }
        return conditions
    }

    private func assemble(_ items: [Item]) throws(QueryError) -> ParsedQuery {
        var query = ParsedQuery()
        var pendingOr: Int? = nil  // position of an OR waiting for its right operand
        var lastWasPositive = false
        for item in items {
            switch item {
            case .or(let position):
                guard lastWasPositive, pendingOr == nil else {
                    throw QueryError(
                        position: position,
                        message: "OR needs a term on each side, e.g. 北京 OR 上海 (exclusions cannot be ORed)")
                }
                pendingOr = position
            case .conjunction(let conditions, let excluded, _):
                if excluded {
                    if let orPosition = pendingOr {
                        throw QueryError(
                            position: orPosition,
                            message: "OR needs a term on each side, e.g. 北京 OR 上海 (exclusions cannot be ORed)")
                    }
                    query.exclusions.append(conditions)
                    lastWasPositive = false
                } else {
                    if pendingOr != nil {
                        query.groups[query.groups.count - 1].append(conditions)
                        pendingOr = nil
                    } else {
                        query.groups.append([conditions])
                    }
                    lastWasPositive = true
                }
            }
        }
        if let orPosition = pendingOr {
            throw QueryError(position: orPosition, message: "OR at the end of the query: add the alternative after it")
        }
        // A repeated group adds nothing to the match (its score counts once). Dropped only now that every OR has
        // its operands: in `A A OR B` the second A starts the group `A OR B`, and the first stays required.
        var distinct: [[ParsedQuery.Conjunction]] = []
        for group in query.groups where !distinct.contains(group) { distinct.append(group) }
        query.groups = distinct
        if query.groups.isEmpty && !query.exclusions.isEmpty {
            throw QueryError(
                position: 0,
                message: "the query only excludes; add a term to search for, e.g. 北京 -上海")
        }
        return query
    }
}

/// NFKC + lowercase of a whole name, trimmed (for source and person filters and facets).
func normalizeName(_ text: String) -> String {
    let n = NormalizedText(text, keepOrigins: false)
    var view = String.UnicodeScalarView()
    view.append(contentsOf: n.scalars)
    var result = String(view)
    while let first = result.unicodeScalars.first, first.properties.isWhitespace { result.unicodeScalars.removeFirst() }
    while let last = result.unicodeScalars.last, last.properties.isWhitespace { result.unicodeScalars.removeLast() }
    return result
}
