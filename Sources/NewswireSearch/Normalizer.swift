import Foundation

/// How the analyzer treats one normalised scalar.
enum ScalarClass: UInt8 {
    /// A CJK ideograph (or kana / hangul syllable): indexed as unigrams and overlapping bigrams.
    case cjk = 0
    /// A letter, digit or combining mark outside CJK: part of a word.
    case word = 1
    /// Spaces and tabs: break CJK runs; words on either side of plain spaces stay phrase-adjacent.
    case space = 2
    /// Punctuation, symbols, line breaks: a hard break that no phrase crosses.
    case hardBreak = 3
}

/// NFKC + lowercase normalisation, scalar by scalar, keeping a map back to the original scalar offsets.
///
/// Swift's standard library has no public NFKC, so each base scalar with its trailing combining marks (one
/// "cluster") is normalised with Foundation's `precomposedStringWithCompatibilityMapping`, then lowercased.
/// Every BMP scalar's mapping is precomputed once into a table so the hot path (indexing) never touches
/// Foundation: CJK text, ASCII and full-width forms cost one table load per scalar.
enum Normalizer {
    /// Table entry layout: bits 0..<21 mapped scalar (or expansion index), bit 24 = expands to several
    /// scalars, bit 25 = the source scalar joins the cluster before it (``joinsPreviousCluster(_:)``), bits
    /// 28..<30 = class of the mapped scalar.
    private static let expandsBit: UInt32 = 1 << 24
    private static let combiningBit: UInt32 = 1 << 25

    private struct Tables: Sendable {
        var bmp: [UInt32]
        var expansions: [[Unicode.Scalar]]
    }

    private static let tables: Tables = buildTables()

    /// Builds ``tables`` if no one has yet (see ``SearchIndex/prepareAnalyzer()``).
    static func prepare() { _ = tables.bmp.count }

    private static func buildTables() -> Tables {
        var bmp = [UInt32](repeating: 0, count: 0x10000)
        var expansions: [[Unicode.Scalar]] = []
        for v in 0..<UInt32(0x10000) {
            guard let scalar = Unicode.Scalar(v) else {
                bmp[Int(v)] = v | (UInt32(ScalarClass.hardBreak.rawValue) << 28)
                continue
            }
            let combining = joinsPreviousCluster(scalar)
            let mapped = slowNormalize([scalar])
            var entry: UInt32
            if mapped.count == 1 {
                entry = mapped[0].value | (UInt32(classify(mapped[0]).rawValue) << 28)
            } else {
                entry = UInt32(expansions.count) | expandsBit
                expansions.append(mapped)
            }
            if combining { entry |= combiningBit }
            bmp[Int(v)] = entry
        }
        return Tables(bmp: bmp, expansions: expansions)
    }

    /// Calls `body` with the BMP table when every scalar of a BMP-only text normalises one-to-one: the mapped
    /// scalar is `entry & 0x1F_FFFF` and its class `(entry >> 28) & 3` unless `entry & oneToOneExceptionMask`
    /// is set (the scalar expands or is a combining mark, whose cluster Foundation normalises).
    @inline(__always)
    static func withBMPTable<R>(_ body: (UnsafeBufferPointer<UInt32>) throws -> R) rethrows -> R {
        try tables.bmp.withUnsafeBufferPointer(body)
    }

    /// The scalars an expanding BMP entry maps to (``oneToOneExceptionMask`` set, not a combining mark), or nil
    /// for a combining mark.
    static func expansion(of entry: UInt32) -> [Unicode.Scalar]? {
        guard entry & combiningBit == 0, entry & expandsBit != 0 else { return nil }
        return tables.expansions[Int(entry & 0xFF_FFFF)]
    }

    /// Table entry bits that rule out the one-to-one fast path (see ``withBMPTable(_:)``).
    static let oneToOneExceptionMask: UInt32 = expandsBit | combiningBit

    static func isCombiningMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Whether `scalar` belongs to the cluster before it: a combining mark, or a scalar NFKC composes with what
    /// precedes it although it is a letter (the half-width voiced sound marks after kana, as in ｶﾞ = ガ; Hangul vowel
    /// and final jamo after an initial, as in 각 spelt with three jamo).
    static func joinsPreviousCluster(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0xFF9E, 0xFF9F, 0x1160...0x11FF, 0xD7B0...0xD7FF: return true
        default: return isCombiningMark(scalar)
        }
    }

    /// NFKC then lowercase through Foundation; used only to fill the table and for rare clusters.
    static func slowNormalize(_ cluster: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: cluster)
        let nfkc = String(view).precomposedStringWithCompatibilityMapping.lowercased()
        // Lowercasing can de-normalise (e.g. U+0130); normalise once more so index and query agree.
        return Array(nfkc.precomposedStringWithCompatibilityMapping.unicodeScalars)
    }

    /// The class of an already-normalised scalar.
    static func classify(_ scalar: Unicode.Scalar) -> ScalarClass {
        let v = scalar.value
        if v < 0x80 {
            switch v {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return .word
            case 0x20, 0x09: return .space
            default: return .hardBreak
            }
        }
        if isCJK(v) { return .cjk }
        switch v {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return .hardBreak
        default: break
        }
        let p = scalar.properties
        if p.isWhitespace { return .space }
        if p.isAlphabetic || p.numericType != nil || isCombiningMark(scalar) { return .word }
        return .hardBreak
    }

    /// CJK ideographs (all Han blocks), 〇, kana and hangul: the scripts written without spaces.
    @inline(__always)
    static func isCJK(_ v: UInt32) -> Bool {
        if v < 0x3007 { return false }
        return (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || v == 0x3007
            || (0x3040...0x30FF).contains(v) || (0xAC00...0xD7AF).contains(v) || (0xF900...0xFAFF).contains(v)
            || (0x20000...0x3FFFF).contains(v) || (0x1100...0x11FF).contains(v) || (0x3130...0x318F).contains(v)
            || (0x31F0...0x31FF).contains(v)
    }

    /// Normalises `scalars` into `out`, calling `origin(start, end)` once per output scalar with the half-open
    /// range of source scalar offsets it came from.
    @inline(__always)
    static func normalize(
        _ scalars: UnsafeBufferPointer<Unicode.Scalar>, into out: inout [Unicode.Scalar],
        classes: inout [ScalarClass], origins: UnsafeMutablePointer<[Int32]>?
    ) {
        let table = tables
        let n = scalars.count
        var i = 0
        while i < n {
            let v = scalars[i].value
            // Fast path: a BMP scalar not followed by a combining mark.
            let nextIsCombining: Bool
            if i + 1 < n {
                let nv = scalars[i + 1].value
                nextIsCombining =
                    nv >= 0x300
                    && (nv <= 0xFFFF ? table.bmp[Int(nv)] & combiningBit != 0 : isCombiningMark(scalars[i + 1]))
            } else {
                nextIsCombining = false
            }
            if v <= 0xFFFF && !nextIsCombining {
                let entry = table.bmp[Int(v)]
                if entry & expandsBit == 0 {
                    out.append(Unicode.Scalar(entry & 0x1F_FFFF)!)
                    classes.append(ScalarClass(rawValue: UInt8((entry >> 28) & 3))!)
                    origins?.pointee.append(Int32(i))
                } else {
                    for s in table.expansions[Int(entry & 0xFF_FFFF)] {
                        out.append(s)
                        classes.append(classify(s))
                        origins?.pointee.append(Int32(i))
                    }
                }
                i += 1
                continue
            }
            var j = i + 1
            while j < n, joinsPreviousCluster(scalars[j]) { j += 1 }
            let mapped = slowNormalize(Array(scalars[i..<j]))
            for s in mapped {
                out.append(s)
                classes.append(classify(s))
                origins?.pointee.append(Int32(i))
            }
            i = j
        }
    }
}

/// A field's text after normalisation, with each normalised scalar's source range.
struct NormalizedText {
    /// Normalised scalars.
    var scalars: [Unicode.Scalar] = []
    /// The class of each normalised scalar.
    var classes: [ScalarClass] = []
    /// For each normalised scalar, the offset of the first source scalar of its cluster.
    var originStart: [Int32] = []
    /// Number of source scalars.
    var sourceCount: Int = 0

    init() {}

    /// Normalises `text`; `keepOrigins` records the offset map (needed for highlights only).
    init(_ text: String, keepOrigins: Bool = true) {
        self.init(scalars: Self.scalars(of: text), keepOrigins: keepOrigins)
    }

    /// The scalars of `text`, decoded from its UTF-8 storage in one pass: `Array(text.unicodeScalars)` walks the
    /// view twice (to count, then to copy) at about 25 instructions a scalar, a tenth of an index build.
    static func scalars(of text: String) -> [Unicode.Scalar] {
        let decoded = text.utf8.withContiguousStorageIfAvailable { bytes -> [Unicode.Scalar] in
            var count = 0
            for byte in bytes { count &+= byte & 0xC0 != 0x80 ? 1 : 0 }
            return [Unicode.Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
                // A String's UTF-8 is valid, so every decoded value is a scalar: stored as the UInt32 it wraps.
                let out = UnsafeMutableRawPointer(buffer.baseAddress!)
                var o = 0
                var i = 0
                while i < bytes.count {
                    out.storeBytes(of: UTF16Text.decodeScalar(bytes, at: &i), toByteOffset: o &* 4, as: UInt32.self)
                    o &+= 1
                }
                initialized = o
            }
        }
        return decoded ?? Array(text.unicodeScalars)
    }

    /// Normalises already-decoded scalars.
    init(scalars source: [Unicode.Scalar], keepOrigins: Bool = true) {
        sourceCount = source.count
        scalars.reserveCapacity(source.count)
        classes.reserveCapacity(source.count)
        source.withUnsafeBufferPointer { buffer in
            if keepOrigins {
                originStart.reserveCapacity(source.count)
                withUnsafeMutablePointer(to: &originStart) { origins in
                    Normalizer.normalize(buffer, into: &scalars, classes: &classes, origins: origins)
                }
            } else {
                Normalizer.normalize(buffer, into: &scalars, classes: &classes, origins: nil)
            }
        }
    }

    /// Source scalar range `[start, end)` covering normalised scalars `[from, to)`.
    func sourceRange(from: Int, to: Int) -> Range<Int> {
        let start = Int(originStart[from])
        let end = to < originStart.count ? Int(originStart[to]) : sourceCount
        return start..<max(end, start + 1)
    }
}
