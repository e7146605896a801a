import NewswireModel

/// The analysis half of a built segment (term dictionary, postings, field lengths), as bytes another node can install
/// without analysing the articles again: a cluster node stores it with the batch it wrote, and the nodes following
/// the feed take it instead of re-indexing (the largest part of their work). Titles, bodies and attributes are not
/// in it: the receiver has them in the records.
///
/// Layout, little-endian: `u8 format`, `u32` ``SnapshotCodec/version``, the caller's per-document checks
/// (`varint count`, `u64` each), then the arrays as a snapshot lays them out (title lengths, body lengths, body
/// bases, compact keys, wide keys, words, term offsets, postings) and a trailing `u64` checksum of everything before
/// it. The snapshot version is the analysis version: a snapshot written by another analysis is as wrong as shipped
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

    /// The document count in the header of `bytes` (without decoding the rest), or nil when they are not a shipped
    /// analysis of this version.
    public static func documentCount(in bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBytes { buffer -> Int? in
            guard buffer.count >= 1 + 4 + 8, buffer[0] == format else { return nil }
            var r = ByteReader(bytes: buffer, offset: 1, path: "shipped analysis")
            guard let version = try? r.u32(), version == SnapshotCodec.version, let n = try? r.varint() else {
                return nil
            }
            return n <= UInt64(buffer.count / 8) ? Int(n) : nil
        }
    }

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
            let titleLengths = try r.array(of: UInt32.self)
            let bodyLengths = try r.array(of: UInt32.self)
            let bodyBases = try r.array(of: Int32.self)
            let compactKeys = try r.array(of: UInt32.self)
            let wideKeys = try r.array(of: UInt64.self)
            var wordList: [String] = []
            for _ in 0..<(try r.count(max: payload.count)) { wordList.append(try r.string()) }
            let termStart = try r.array(of: UInt32.self)
            let postings = try r.array(of: UInt8.self)
            let terms = compactKeys.count + wideKeys.count + wordList.count
            // The same checks a snapshot's segment passes, so a search never walks outside the postings.
            guard r.offset == payload.count, n > 0, titleLengths.count == n, bodyLengths.count == n,
                bodyBases.count == n, termStart.count == terms + 1, termStart.first == 0,
                zip(termStart, termStart.dropFirst()).allSatisfy({ $0 <= $1 }),
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
        w.array(s.titleLengths)
        w.array(s.bodyLengths)
        w.array(s.bodyBases)
        w.array(s.compactKeys)
        w.array(s.wideKeys)
        w.varint(UInt64(s.wordList.count))
        for word in s.wordList { w.string(word) }
        w.array(s.termStart)
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
        let characters = documents.reduce(0) { $0 + $1.title.utf16.count + $1.body.utf16.count }
        text.reserveCapacity(characters)
        idStart.reserveCapacity(documents.count + 1)
        textStart.reserveCapacity(2 * documents.count + 1)
        for document in documents {
            idText.append(contentsOf: document.id.rawValue.utf8)
            idStart.append(UInt32(idText.count))
            text.append(contentsOf: document.title.utf16)
            textStart.append(UInt32(text.count))
            text.append(contentsOf: document.body.utf16)
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
