import NewswireModel

/// Binary snapshot layout (version 9; 9 changed no layout, only the analyzer's clusters, which an index built by
/// an older version does not share), little-endian:
///
/// `magic "NWSIDX\r\n"`, `u32 version`, metadata bytes, the three interners (sources, months, persons), then each
/// segment's flat arrays exactly as held in memory (documents, term keys, term offsets, postings, deletion
/// bits), and a trailing `u64` checksum of everything before it. Loading validates magic, version, checksum
/// and every array's length and range, so a truncated or corrupt file is rejected instead of trusted.
enum SnapshotCodec {
    static let version: UInt32 = 9

    /// Encodes a captured state, with `deleted[i]` as segment `i`'s deletion bits, in memory.
    static func encode(_ state: SnapshotCapture, metadata: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        encode(state, metadata: metadata) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Encodes a captured state in pieces handed to `sink` in order (about a megabyte at a time, and each large
    /// array straight from the index), so the snapshot is never whole in memory: a first pass only counts the
    /// bytes, since the checksum starts from the payload's length.
    static func encode(_ state: SnapshotCapture, metadata: [UInt8], into sink: (UnsafeRawBufferPointer) -> Void) {
        var counter = ByteWriter(countOnly: true)
        write(state, metadata: metadata, to: &counter)
        var checksum = SnapshotChecksum(totalCount: counter.count)
        // The writer holds its sink only while this call runs.
        withoutActuallyEscaping(sink) { sink in
            var w = ByteWriter { chunk in
                checksum.update(chunk)
                sink(chunk)
            }
            write(state, metadata: metadata, to: &w)
            w.flushPending()
            precondition(w.count == counter.count, "snapshot size changed between passes")
        }
        withUnsafeBytes(of: checksum.finish().littleEndian) { sink($0) }
    }

    private static func write(_ state: SnapshotCapture, metadata: [UInt8], to w: inout ByteWriter) {
        SnapshotFile.magic.withUnsafeBytes { w.raw($0) }
        w.u32(version)
        w.array(metadata)
        for interner in [state.sources, state.months, state.persons] {
            w.varint(UInt64(interner.count))
            for value in interner.values { w.string(value) }
        }
        w.varint(UInt64(state.segments.count))
        for (i, s) in state.segments.enumerated() {
            w.varint(UInt64(s.count))
            w.array(s.idText)
            w.array(s.idStart)
            w.array(s.text)
            w.array(s.textStart)
            w.array(s.sourceIDs)
            w.array(s.monthIDs)
            w.array(s.seconds)
            w.array(s.utcOffsets)
            w.array(s.personStart)
            w.array(s.personIDs)
            w.array(s.titleLengths)
            w.array(s.bodyLengths)
            w.array(s.bodyBases)
            w.array(s.compactKeys)
            w.array(s.wideKeys)
            w.varint(UInt64(s.wordList.count))
            for word in s.wordList { w.string(word) }
            w.array(s.termStart)
            w.array(s.postings)
            w.array(state.deleted[i])
        }
    }

    static func decode(_ buffer: UnsafeRawBufferPointer, path: String) throws(SnapshotError) -> (IndexState, [UInt8]) {
        let magic = SnapshotFile.magic
        guard buffer.count >= magic.count + 4 + 8, Array(buffer.prefix(magic.count)) == magic else {
            throw SnapshotError(path: path, message: "not a Newswire index snapshot (bad magic or too short)")
        }
        let payload = UnsafeRawBufferPointer(rebasing: buffer[..<(buffer.count - 8)])
        let stored = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: buffer.count - 8, as: UInt64.self))
        var r = ByteReader(bytes: payload, offset: magic.count, path: path)
        let version = try r.u32()
        guard version == Self.version else {
            throw SnapshotError(
                path: path, message: "snapshot format version \(version), expected \(Self.version); rebuild the index")
        }
        guard snapshotChecksum(payload) == stored else {
            throw SnapshotError(path: path, message: "checksum mismatch (truncated or corrupt file); rebuild the index")
        }
        let metadata = try r.array(of: UInt8.self)
        var interners: [Interner] = []
        for _ in 0..<3 {
            let n = try r.count(max: payload.count)
            var values: [String] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try r.string()) }
            interners.append(Interner(values: values))
        }
        var state = IndexState()
        state.sources = interners[0]
        state.months = interners[1]
        state.persons = interners[2]
        let segmentCount = try r.count(max: payload.count)
        for _ in 0..<segmentCount {
            let n = try r.count(max: payload.count)
            let idText = try r.array(of: UInt8.self)
            let idStart = try r.array(of: UInt32.self)
            let text = try r.array(of: UInt16.self)
            let textStart = try r.array(of: UInt32.self)
            let sourceIDs = try r.array(of: Int32.self)
            let monthIDs = try r.array(of: Int32.self)
            let seconds = try r.array(of: Int64.self)
            let utcOffsets = try r.array(of: Int32.self)
            let personStart = try r.array(of: UInt32.self)
            let personIDs = try r.array(of: Int32.self)
            let titleLengths = try r.array(of: UInt32.self)
            let bodyLengths = try r.array(of: UInt32.self)
            let bodyBases = try r.array(of: Int32.self)
            let compactKeys = try r.array(of: UInt32.self)
            let wideKeys = try r.array(of: UInt64.self)
            var wordList: [String] = []
            for _ in 0..<(try r.count(max: payload.count)) { wordList.append(try r.string()) }
            let termStart = try r.array(of: UInt32.self)
            let postings = try r.array(of: UInt8.self)
            let deleted = try r.array(of: UInt64.self)
            let terms = compactKeys.count + wideKeys.count + wordList.count
            guard [sourceIDs.count, monthIDs.count, seconds.count, utcOffsets.count, titleLengths.count,
                bodyLengths.count, bodyBases.count].allSatisfy({ $0 == n }),
                personStart.count == n + 1, idStart.count == n + 1, idStart.first == 0,
                idStart.last.map(Int.init) == idText.count, zip(idStart, idStart.dropFirst()).allSatisfy({ $0 <= $1 }), textStart.count == 2 * n + 1, textStart.first == 0,
                textStart.last.map(Int.init) == text.count, zip(textStart, textStart.dropFirst()).allSatisfy({ $0 <= $1 }), personStart.last.map(Int.init) == personIDs.count,
                zip(personStart, personStart.dropFirst()).allSatisfy({ $0 <= $1 }),
                termStart.count == terms + 1, deleted.count == (n + 63) / 64,
                zip(termStart, termStart.dropFirst()).allSatisfy({ $0 <= $1 }),
                !postings.isEmpty, Int(termStart.last ?? 0) < postings.count,
                sourceIDs.allSatisfy({ $0 >= -1 && $0 < Int32(state.sources.count) }),
                monthIDs.allSatisfy({ $0 >= -1 && $0 < Int32(state.months.count) }),
                personIDs.allSatisfy({ $0 >= 0 && $0 < Int32(state.persons.count) }),
                zip(compactKeys, compactKeys.dropFirst()).allSatisfy({ $0 < $1 }),
                zip(wideKeys, wideKeys.dropFirst()).allSatisfy({ $0 < $1 })
            else { throw r.corrupt("inconsistent segment arrays") }
            let segment = Segment(
                idText: idText, idStart: idStart, text: text, textStart: textStart, sourceIDs: sourceIDs, monthIDs: monthIDs, seconds: seconds,
                utcOffsets: utcOffsets, personStart: personStart, personIDs: personIDs, titleLengths: titleLengths,
                bodyLengths: bodyLengths, bodyBases: bodyBases, compactKeys: compactKeys, wideKeys: wideKeys, wordList: wordList,
                termStart: termStart, postings: postings, deleted: deleted)
            for doc in 0..<n where !segment.isDeleted(doc) {
                guard state.locations.removeValue(idOf: doc, in: segment) == nil else {
                    throw r.corrupt("article \(segment.id(doc)) stored twice")
                }
                state.locations.set(doc: doc, in: segment)
                state.liveCount += 1
                state.totalLength += segment.weightedLength(doc)
            }
            state.segments.append(segment)
        }
        guard r.offset == payload.count else { throw r.corrupt("trailing bytes") }
        return (state, metadata)
    }
}

/// What a snapshot holds, captured under the read lock and encoded after it is released: the segments (immutable
/// but for their deletion bits, copied here), and the interners. Not the id table: the next write would then copy
/// all of it (copy-on-write) under the write lock, a pause that grows with the index; loading rebuilds it.
struct SnapshotCapture {
    let segments: [Segment]
    let deleted: [[UInt64]]
    let sources: Interner
    let months: Interner
    let persons: Interner

    init(_ state: IndexState) {
        segments = state.segments
        deleted = state.segments.map(\.deleted)
        sources = state.sources
        months = state.months
        persons = state.persons
    }

    func encode(metadata: [UInt8]) -> [UInt8] { SnapshotCodec.encode(self, metadata: metadata) }
}
