extension Segment {
    /// Merges segments (in order) into one holding their live documents, without re-analysing any text: stored
    /// fields are copied, and each term's entries are re-encoded with renumbered documents while their position
    /// bytes are copied as they are. Terms left without documents are dropped.
    ///
    /// `deleted` (one per input) are deletion bits captured earlier, read instead of the inputs' own (which a
    /// writer may be changing while a merge runs alongside it); by default the inputs' own.
    static func merge(_ inputs: [Segment], deleted: [[UInt64]]? = nil) -> Segment {
        // Documents: renumber the live ones, copy their fields. An input without deleted documents is copied
        // whole, its documents shifted by the output's count so far (`shifts`; -1 for an input with deletions).
        var remaps: [[Int32]] = []
        var shifts: [Int32] = []
        var idText: [UInt8] = []
        var idStart: [UInt32] = [0]
        var text: [UInt16] = []
        var textStart: [UInt32] = [0]
        var sourceIDs: [Int32] = []
        var monthIDs: [Int32] = []
        var seconds: [Int64] = []
        var utcOffsets: [Int32] = []
        var personStart: [UInt32] = [0]
        var personIDs: [Int32] = []
        var titleLengths: [UInt32] = []
        var bodyLengths: [UInt32] = []
        var bodyBases: [Int32] = []
        var next: Int32 = 0
        for (input, segment) in inputs.enumerated() {
            let bits = deleted?[input] ?? segment.deleted
            if !bits.contains(where: { $0 != 0 }) {
                shifts.append(next)
                remaps.append([])
                next += Int32(segment.count)
                appendWhole(segment.idText, starts: segment.idStart, to: &idText, starts: &idStart)
                appendWhole(segment.text, starts: segment.textStart, to: &text, starts: &textStart)
                sourceIDs += segment.sourceIDs
                monthIDs += segment.monthIDs
                seconds += segment.seconds
                utcOffsets += segment.utcOffsets
                appendWhole(segment.personIDs, starts: segment.personStart, to: &personIDs, starts: &personStart)
                titleLengths += segment.titleLengths
                bodyLengths += segment.bodyLengths
                bodyBases += segment.bodyBases
                continue
            }
            var remap = [Int32](repeating: -1, count: segment.count)
            for doc in 0..<segment.count where bits[doc >> 6] & (1 << UInt64(doc & 63)) == 0 {
                remap[doc] = next
                next += 1
                idText.append(contentsOf: segment.idText[Int(segment.idStart[doc])..<Int(segment.idStart[doc + 1])])
                idStart.append(UInt32(idText.count))
                text.append(contentsOf: segment.text[Int(segment.textStart[2 * doc])..<Int(segment.textStart[2 * doc + 1])])
                textStart.append(UInt32(text.count))
                text.append(
                    contentsOf: segment.text[Int(segment.textStart[2 * doc + 1])..<Int(segment.textStart[2 * doc + 2])])
                textStart.append(UInt32(text.count))
                sourceIDs.append(segment.sourceIDs[doc])
                monthIDs.append(segment.monthIDs[doc])
                seconds.append(segment.seconds[doc])
                utcOffsets.append(segment.utcOffsets[doc])
                personIDs.append(contentsOf: segment.persons(of: doc))
                personStart.append(UInt32(personIDs.count))
                titleLengths.append(segment.titleLengths[doc])
                bodyLengths.append(segment.bodyLengths[doc])
                bodyBases.append(segment.bodyBases[doc])
            }
            shifts.append(-1)
            remaps.append(remap)
        }

        var writer = PostingsWriter(
            titleLengths: titleLengths, bodyLengths: bodyLengths, capacity: inputs.reduce(0) { $0 + $1.postings.count })
        var termStart: [UInt32] = []
        var compactKeys: [UInt32] = []
        var wideKeys: [UInt64] = []
        var wordList: [String] = []
        // Each input's keys are sorted: the output's keys are their k-way merge (inputs are few), each key's
        // entries taken from the inputs in order, so documents stay ascending.
        withMergeInputs(inputs, remaps: remaps, shifts: shifts) { views in
            mergeSortedKeys(views.map(\.compactKeys), termOffsets: views.map { _ in 0 }) { key, sources in
                if writeTerm(sources, positional: key >= 0x10000, views, &writer, &termStart) { compactKeys.append(key) }
            }
            mergeSortedKeys(views.map(\.wideKeys), termOffsets: views.map(\.compactKeys.count)) { key, sources in
                if writeTerm(sources, positional: TermKey.isPositional(key), views, &writer, &termStart) {
                    wideKeys.append(key)
                }
            }
            // Words are unordered: grouped by a dictionary, in order of first appearance.
            var wordSources: [String: [(input: Int, term: Int)]] = [:]
            var wordOrder: [String] = []
            for (i, segment) in inputs.enumerated() {
                for (w, word) in segment.wordList.enumerated() {
                    if wordSources[word] == nil { wordOrder.append(word) }
                    wordSources[word, default: []].append((i, segment.cjkTermCount + w))
                }
            }
            for word in wordOrder {
                let written = wordSources[word]!.withUnsafeBufferPointer {
                    writeTerm($0, positional: true, views, &writer, &termStart)
                }
                if written { wordList.append(word) }
            }
        }
        termStart.append(UInt32(writer.postings.count))
        writer.postings.append(0)  // padding: the buffer is never empty
        return Segment(
            idText: idText, idStart: idStart, text: text, textStart: textStart, sourceIDs: sourceIDs,
            monthIDs: monthIDs, seconds: seconds, utcOffsets: utcOffsets, personStart: personStart,
            personIDs: personIDs, titleLengths: titleLengths, bodyLengths: bodyLengths, bodyBases: bodyBases,
            compactKeys: compactKeys, wideKeys: wideKeys, wordList: wordList, termStart: termStart,
            postings: writer.postings.array)
    }

    /// Appends a whole flat buffer and its start offsets (less the leading 0), shifted past what `buffer` holds.
    private static func appendWhole<Element>(
        _ source: [Element], starts sourceStarts: [UInt32], to buffer: inout [Element], starts: inout [UInt32]
    ) {
        let base = UInt32(buffer.count)
        buffer += source
        starts += sourceStarts.dropFirst().lazy.map { $0 + base }
    }

    /// One input as the term loop reads it: pointers, so that reading a list per term retains and releases
    /// nothing (reading the segment's arrays did, a quarter of a merge's time in the profile).
    private struct MergeInput {
        let postings: UnsafePointer<UInt8>
        let termStart: UnsafePointer<UInt32>
        let compactKeys: UnsafeBufferPointer<UInt32>
        let wideKeys: UnsafeBufferPointer<UInt64>
        /// Output number of each input document (-1: deleted), when `shift` is -1.
        let remap: UnsafePointer<Int32>?
        /// Output number of the input's document 0 when it has no deleted documents, else -1.
        let shift: Int32
    }

    /// Calls `body` once per distinct key of `lists` (each sorted ascending, without repeats) in ascending order,
    /// with the (list, term) pairs holding it in list order; a key at index k of list i is term
    /// `termOffsets[i] + k`. One pass over the lists' heads per key (a merge has few inputs).
    private static func mergeSortedKeys<Key: FixedWidthInteger>(
        _ lists: [UnsafeBufferPointer<Key>], termOffsets: [Int],
        _ body: (Key, UnsafeBufferPointer<(input: Int, term: Int)>) -> Void
    ) {
        let count = lists.count
        // Scratch on the stack and read through pointers: this loop runs once per output key (hundreds of
        // thousands per merge), where array bookkeeping (uniqueness checks, bounds) showed in the profile.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { heads in
            withUnsafeTemporaryAllocation(of: (input: Int, term: Int).self, capacity: count) { sources in
                heads.initialize(repeating: 0)
                lists.withUnsafeBufferPointer { lists in
                    termOffsets.withUnsafeBufferPointer { termOffsets in
                        while true {
                            var key = Key.max
                            var found = 0
                            for i in 0..<count where heads[i] < lists[i].count {
                                let head = lists[i][heads[i]]
                                if found == 0 || head < key {
                                    key = head
                                    found = 0
                                } else if head != key {
                                    continue
                                }
                                sources[found] = (i, heads[i])
                                found += 1
                            }
                            guard found > 0 else { return }
                            for j in 0..<found {
                                heads[sources[j].input] += 1
                                sources[j].term += termOffsets[sources[j].input]
                            }
                            body(key, UnsafeBufferPointer(rebasing: sources[0..<found]))
                        }
                    }
                }
            }
        }
    }

    /// Calls `body` with every input's ``MergeInput``, valid for the call.
    private static func withMergeInputs<R>(
        _ inputs: [Segment], remaps: [[Int32]], shifts: [Int32], _ body: ([MergeInput]) -> R
    ) -> R {
        var views: [MergeInput] = []
        views.reserveCapacity(inputs.count)
        func nest(_ i: Int) -> R {
            guard i < inputs.count else { return body(views) }
            let segment = inputs[i]
            return segment.postings.withUnsafeBufferPointer { postings in
                segment.termStart.withUnsafeBufferPointer { termStart in
                    segment.compactKeys.withUnsafeBufferPointer { compactKeys in
                        segment.wideKeys.withUnsafeBufferPointer { wideKeys in
                            remaps[i].withUnsafeBufferPointer { remap in
                                views.append(
                                    MergeInput(
                                        postings: postings.baseAddress!, termStart: termStart.baseAddress!,
                                        compactKeys: compactKeys, wideKeys: wideKeys, remap: remap.baseAddress,
                                        shift: shifts[i]))
                                return nest(i + 1)
                            }
                        }
                    }
                }
            }
        }
        return nest(0)
    }

    /// Writes one output term from its sources (input, term), in input order; false (and nothing written) when
    /// no live entry is left. The entries of an input without deletions keep their document deltas after the
    /// first, so they are copied as stored; the others are renumbered and re-encoded (positions copied).
    private static func writeTerm(
        _ sources: UnsafeBufferPointer<(input: Int, term: Int)>, positional: Bool, _ views: [MergeInput],
        _ writer: inout PostingsWriter, _ termStart: inout [UInt32]
    ) -> Bool {
        let start = writer.postings.count
        func cursor(_ source: (input: Int, term: Int)) -> PostingCursor {
            let view = views[source.input]
            return PostingCursor(
                base: view.postings, start: view.termStart[source.term], end: view.termStart[source.term + 1],
                positional: positional)
        }
        writer.beginTerm(
            atMost: sources.reduce(0) { total, source in
                let view = views[source.input]
                return total + PostingCursor.documentFrequency(base: view.postings, start: view.termStart[source.term])
            })
        for source in sources {
            let view = views[source.input]
            var cursor = cursor(source)
            if view.shift >= 0 {
                // No deletions: the first entry is re-encoded (its delta is from this list's previous document),
                // the rest keep their deltas and are copied as one run once read.
                guard cursor.next() else { continue }
                writer.add(
                    doc: cursor.doc + view.shift, titleTF: cursor.titleTF, bodyTF: cursor.bodyTF,
                    positions: positional ? cursor.rawPositions : nil)
                let run = cursor.position
                while true {
                    let entry = cursor.position
                    guard cursor.next() else { break }
                    writer.noteRunEntry(
                        doc: cursor.doc + view.shift, titleTF: cursor.titleTF, bodyTF: cursor.bodyTF,
                        offset: entry - run)
                }
                writer.appendRun(UnsafeBufferPointer(start: run, count: cursor.position - run))
                continue
            }
            while cursor.next() {
                let doc = view.remap![Int(cursor.doc)]
                if doc < 0 { continue }
                writer.add(
                    doc: doc, titleTF: cursor.titleTF, bodyTF: cursor.bodyTF,
                    positions: positional ? cursor.rawPositions : nil)
            }
        }
        guard writer.documentFrequency > 0 else { return false }
        termStart.append(UInt32(start))
        writer.endTerm()
        return true
    }
}
