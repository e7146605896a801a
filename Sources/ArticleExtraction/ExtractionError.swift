/// Why a page could not be turned into an ``NewswireModel/Article``.
///
/// Follows the house pattern (a struct with an extensible ``Code``) so new reasons can be added without breaking
/// callers that switch over the ones they know. ``message`` is a complete sentence naming the input, what failed
/// and what to do.
public struct ExtractionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure. Compare with the static members; unknown future codes compare unequal to all of them.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// Stable identifier, e.g. `"empty"`.
        public let rawValue: String
        /// Creates a code from its identifier.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The identifier, as printed in `newswire parse` error lines.
        public var description: String { rawValue }

        /// The input has no bytes, or only whitespace.
        public static let empty = Code("empty")
        /// The input is binary (an image, archive, executable or NUL-heavy data), not a page.
        public static let binary = Code("binary")
        /// The bytes decode in no supported charset (UTF-8, UTF-16 with BOM, GB18030/GBK/GB2312, or a declared one).
        public static let undecodable = Code("undecodable")
        /// The page decodes but holds no recognisable article (no title and no body text).
        public static let noArticle = Code("noArticle")
        /// The input is larger than ``ArticleExtractor/Configuration/maximumInputBytes``.
        public static let tooLarge = Code("tooLarge")
        /// The input could not be read (missing file, permission denied…); used by ``PageFileReader``.
        public static let unreadable = Code("unreadable")
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation naming the input and the reason.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
