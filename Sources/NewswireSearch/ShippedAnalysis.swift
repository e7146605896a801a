import NewswireModel

/// The analysis half of a built segment (term dictionary, postings, field lengths), as bytes another node can install
/// without analysing the articles again: a cluster node stores it with the batch it wrote, and the nodes following
/// the feed take it instead of re-indexing (the largest part of their work). Titles, bodies and attributes are not
/// in it: the receiver has them in the records.
///
/// Layout, little-endian: `u8 format`, `u32` ``SnapshotCodec/version``, the caller's per-document checks
/// (`varint count`, `u64` each), then per document its title length, body length and body base (varints), the
/// compact keys, wide keys (each `varint count` and varint differences from the previous key), the words, the
/// term offsets (as the keys) and the postings exactly as a segment holds them, and a trailing `u64` checksum of
/// everything before it. The snapshot version is the analysis version: a snapshot written by another analysis is as wrong as shipped
/// postings would be, so both are refused on the same number.
public struct ShippedAnalysis: Sendable {
    /// First byte of the encoding (distinct from the near-duplicate features' format byte, 1).
    public static let format: UInt8 = 0xA5

    /// What the sender gave for each document, in segment order (a cluster node: each record's content hash), for
    /// the receiver to compare with its own copies before trusting the analysis.
    public let checks: [UInt64]
    let titleLengths: [UInt32]
    let bodyLengths: [UInt32]
    let bodyBases: [Int32]
    let compactKeys: [UInt32]
    let wideKeys: [UInt64]
    let wordList: [String]
    let termStart: [UInt32]
    let postings: [UInt8]

    /// Documents the analysis covers.
    public var count: Int { checks.count }

    /// Decodes `bytes`; nil when they are not a shipped analysis of this version, or are damaged or inconsistent.
    public init?(decoding bytes: ArraySlice<UInt8>) {
        guard let decoded = bytes.withUnsafeBytes({ Self.decode($0) }) else { return nil }
        self = decoded
    }

    private init(
        checks: [UInt64], titleLengths: [UInt32], bodyLengths: [UInt32], bodyBases: [Int32], compactKeys: [UInt32],
        wideKeys: [UInt64], wordList: [String], termStart: [UInt32], postings: [UInt8]
    ) {
        self.checks = checks
        self.titleLengths = titleLengths
        self.bodyLengths = bodyLengths
        self.bodyBases = bodyBases
        self.compactKeys = compactKeys
        self.wideKeys = wideKeys
        self.wordList = wordList
        self.termStart = termStart
        self.postings = postings
    }

    private static func decode(_ buffer: UnsafeRawBufferPointer) -> ShippedAnalysis? {
        guard buffer.count >= 1 + 4 + 8, buffer[0] == format else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: buffer[..<(buffer.count - 8)])
        let stored = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: buffer.count - 8, as: UInt64.self))
        guard snapshotChecksum(payload) == stored else { return nil }
        var r = ByteReader(bytes: payload, offset: 1, path: "shipped analysis")
        do throws(SnapshotError) {
            guard try r.u32() == SnapshotCodec.version else { return nil }
            let n = try r.count(max: payload.count / 8)
            var checks: [UInt64] = []
            checks.reserveCapacity(n)
            for _ in 0..<n { checks.append(try r.u64()) }
            func uint32s(_ count: Int) throws(SnapshotError) -> [UInt32]? {
                var values: [UInt32] = []
                values.reserveCapacity(count)
                for _ in 0..<count {
                    let v = try r.varint()
                    guard v <= UInt64(UInt32.max) else { return nil }
                    values.append(UInt32(v))
                }
                return values
            }
            guard let titleLengths = try uint32s(n), let bodyLengths = try uint32s(n),
                let bodyBases = try uint32s(n).map({ $0.map { Int32(bitPattern: $0) } }),
                let compactKeys = try r.ascending(max: UInt64(UInt32.max)).map({ $0.map(UInt32.init) })
            else { return nil }
            let wideKeys = try r.ascending(max: .max)
            var wordList: [String] = []
            for _ in 0..<(try r.count(max: payload.count)) { wordList.append(try r.string()) }
            guard let termStart = try r.ascending(max: UInt64(UInt32.max)).map({ $0.map(UInt32.init) }),
                let wideKeys
            else { return nil }
            let postings = try r.array(of: UInt8.self)
            let terms = compactKeys.count + wideKeys.count + wordList.count
            // The same checks a snapshot's segment passes, so a search never walks outside the postings.
            guard r.offset == payload.count, n > 0, termStart.count == terms + 1, termStart.first == 0,
                !postings.isEmpty, Int(termStart.last ?? 0) < postings.count,
                zip(compactKeys, compactKeys.dropFirst()).allSatisfy({ $0 < $1 }),
                zip(wideKeys, wideKeys.dropFirst()).allSatisfy({ $0 < $1 }),
                Set(wordList).count == wordList.count
            else { return nil }
            return ShippedAnalysis(
                checks: checks, titleLengths: titleLengths, bodyLengths: bodyLengths, bodyBases: bodyBases,
                compactKeys: compactKeys, wideKeys: wideKeys, wordList: wordList, termStart: termStart,
                postings: postings)
        } catch {
            return nil
        }
    }
}

extension PreparedSegment {
    /// This segment's analysis as a ``ShippedAnalysis``, with `checks` (one per document, in the order the
    /// segment holds them: the order of ``SearchIndex/prepare(contentsOf:)``'s articles when their ids are
    /// distinct). Nil when `checks` does not have one value per document.
    public func shippedAnalysis(checks: [UInt64]) -> [UInt8]? {
        guard checks.count == segment.count, segment.count > 0 else { return nil }
        let s = segment
        var w = ByteWriter()
        w.u8(ShippedAnalysis.format)
        w.u32(SnapshotCodec.version)
        w.varint(UInt64(checks.count))
        for check in checks { w.u64(check) }
        // Lengths and the ascending keys and offsets as varints of their differences: about a third of the
        // bytes of the flat arrays, which the primary, the standby and every follower would otherwise carry.
        for value in s.titleLengths { w.varint(UInt64(value)) }
        for value in s.bodyLengths { w.varint(UInt64(value)) }
        for value in s.bodyBases { w.varint(UInt64(UInt32(bitPattern: value))) }
        w.ascending(s.compactKeys.lazy.map(UInt64.init))
        w.ascending(s.wideKeys)
        w.varint(UInt64(s.wordList.count))
        for word in s.wordList { w.string(word) }
        w.ascending(s.termStart.lazy.map(UInt64.init))
        w.array(s.postings)
        var bytes = w.bytes
        let checksum = bytes.withUnsafeBytes { snapshotChecksum($0) }
        withUnsafeBytes(of: checksum.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }
}

extension Segment {
    /// A segment of `documents` with `analysis`'s terms and postings (see ``SearchIndex/prepare(contentsOf:analysis:)``).
    convenience init(documents: [PreparedDocument], analysis a: ShippedAnalysis) {
        var idText: [UInt8] = []
        var idStart: [UInt32] = [0]
        var text: [UInt16] = []
        var textStart: [UInt32] = [0]
        var personStart: [UInt32] = [0]
        var personIDs: [Int32] = []
        // UTF-8 lengths bound the UTF-16 ones and cost nothing (counting UTF-16 units does not: see below).
        text.reserveCapacity(documents.reduce(0) { $0 + $1.title.utf8.count + $1.body.utf8.count })
        idStart.reserveCapacity(documents.count + 1)
        textStart.reserveCapacity(2 * documents.count + 1)
        for document in documents {
            idText.append(contentsOf: document.id.rawValue.utf8)
            idStart.append(UInt32(idText.count))
            // Not `append(contentsOf:)`: the UTF-16 view counts itself first, building the string's breadcrumbs (a
            // pass and an allocation per string, 7% of a follower's profile).
            UTF16Text.append(utf16Of: document.title, to: &text)
            textStart.append(UInt32(text.count))
            UTF16Text.append(utf16Of: document.body, to: &text)
            textStart.append(UInt32(text.count))
            personIDs.append(contentsOf: document.personIDs)
            personStart.append(UInt32(personIDs.count))
        }
        self.init(
            idText: idText, idStart: idStart, text: text, textStart: textStart, sourceIDs: documents.map(\.sourceID),
            monthIDs: documents.map(\.monthID), seconds: documents.map(\.seconds),
            utcOffsets: documents.map(\.utcOffset), personStart: personStart, personIDs: personIDs,
            titleLengths: a.titleLengths, bodyLengths: a.bodyLengths, bodyBases: a.bodyBases,
            compactKeys: a.compactKeys, wideKeys: a.wideKeys, wordList: a.wordList, termStart: a.termStart,
            postings: a.postings)
    }
}

extension ByteWriter {
    /// `varint count`, then each value as the varint of its difference from the previous one (from 0).
    mutating func ascending(_ values: some Collection<UInt64>) {
        varint(UInt64(values.count))
        var previous: UInt64 = 0
        for value in values {
            varint(value &- previous)
            previous = value
        }
    }
}

extension ByteReader {
    /// Values written by ``ByteWriter/ascending(_:)``; nil when one is below its predecessor or above `max`.
    mutating func ascending(max: UInt64) throws(SnapshotError) -> [UInt64]? {
        let n = try count(max: bytes.count - offset)
        var values: [UInt64] = []
        values.reserveCapacity(n)
        var previous: UInt64 = 0
        for _ in 0..<n {
            let (value, overflow) = previous.addingReportingOverflow(try varint())
            guard !overflow, value <= max else { return nil }
            values.append(value)
            previous = value
        }
        return values
    }
}
