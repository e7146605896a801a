extension Segment {
    /// Merges segments (in order) into one holding their live documents, without re-analysing any text: stored
    /// fields are copied, and each term's entries are re-encoded with renumbered documents while their position
    /// bytes are copied as they are. Terms left without documents are dropped.
    ///
    /// `deleted` (one per input) are deletion bits captured earlier, read instead of the inputs' own (which a
    /// writer may be changing while a merge runs alongside it); by default the inputs' own.
    static func merge(_ inputs: [Segment], deleted: [[UInt64]]? = nil) -> Segment {
        // Documents: renumber the live ones, copy their fields.
        var remaps: [[Int32]] = []
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
            var remap = [Int32](repeating: -1, count: segment.count)
            let bits = deleted?[input] ?? segment.deleted
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
            remaps.append(remap)
        }

        // Terms: the sorted union of every input's keys; each output term lists (input, input term) sources.
        var compactSources: [(key: UInt32, input: Int32, term: Int32)] = []
        var wideSources: [(key: UInt64, input: Int32, term: Int32)] = []
        var wordSources: [String: [(input: Int32, term: Int32)]] = [:]
        var wordOrder: [String] = []
        for (i, segment) in inputs.enumerated() {
            for (t, key) in segment.compactKeys.enumerated() { compactSources.append((key, Int32(i), Int32(t))) }
            for (t, key) in segment.wideKeys.enumerated() {
                wideSources.append((key, Int32(i), Int32(segment.compactKeys.count + t)))
            }
            for (w, word) in segment.wordList.enumerated() {
                if wordSources[word] == nil { wordOrder.append(word) }
                wordSources[word, default: []].append((Int32(i), Int32(segment.cjkTermCount + w)))
            }
        }
        compactSources.sort { $0.key != $1.key ? $0.key < $1.key : $0.input < $1.input }
        wideSources.sort { $0.key != $1.key ? $0.key < $1.key : $0.input < $1.input }

        var writer = PostingsWriter(titleLengths: titleLengths, bodyLengths: bodyLengths)
        writer.postings.reserveCapacity(inputs.reduce(0) { $0 + $1.postings.count })
        var termStart: [UInt32] = []

        /// Writes one output term from its sources; returns false (and writes nothing) when no live entry is left.
        func writeTerm(_ sources: [(input: Int32, term: Int32)], _ range: Range<Int>) -> Bool {
            let start = writer.postings.count
            writer.beginTerm()
            for source in sources[range] {
                let segment = inputs[Int(source.input)]
                let remap = remaps[Int(source.input)]
                let t = Int(source.term)
                segment.postings.withUnsafeBufferPointer { buffer in
                    let positional = segment.isPositional(term: t)
                    var cursor = PostingCursor(
                        base: buffer.baseAddress!, start: segment.termStart[t], end: segment.termStart[t + 1],
                        positional: positional)
                    while cursor.next() {
                        let doc = remap[Int(cursor.doc)]
                        if doc < 0 { continue }
                        writer.add(
                            doc: doc, titleTF: cursor.titleTF, bodyTF: cursor.bodyTF,
                            positions: positional ? cursor.rawPositions : nil)
                    }
                }
            }
            guard writer.documentFrequency > 0 else { return false }
            termStart.append(UInt32(start))
            writer.endTerm()
            return true
        }

        var compactKeys: [UInt32] = []
        let compactPairs = compactSources.map { (input: $0.input, term: $0.term) }
        var i = 0
        while i < compactSources.count {
            var j = i + 1
            while j < compactSources.count, compactSources[j].key == compactSources[i].key { j += 1 }
            if writeTerm(compactPairs, i..<j) { compactKeys.append(compactSources[i].key) }
            i = j
        }
        var wideKeys: [UInt64] = []
        let widePairs = wideSources.map { (input: $0.input, term: $0.term) }
        i = 0
        while i < wideSources.count {
            var j = i + 1
            while j < wideSources.count, wideSources[j].key == wideSources[i].key { j += 1 }
            if writeTerm(widePairs, i..<j) { wideKeys.append(wideSources[i].key) }
            i = j
        }
        var wordList: [String] = []
        for word in wordOrder {
            let pairs = wordSources[word]!
            if writeTerm(pairs, 0..<pairs.count) { wordList.append(word) }
        }
        termStart.append(UInt32(writer.postings.count))
        writer.postings.append(0)  // padding: the buffer is never empty
        return Segment(
            idText: idText, idStart: idStart, text: text, textStart: textStart, sourceIDs: sourceIDs,
            monthIDs: monthIDs, seconds: seconds, utcOffsets: utcOffsets, personStart: personStart,
            personIDs: personIDs, titleLengths: titleLengths, bodyLengths: bodyLengths, bodyBases: bodyBases,
            compactKeys: compactKeys, wideKeys: wideKeys, wordList: wordList, termStart: termStart,
            postings: [UInt8](writer.postings))
    }
}
