import NIOCore
import NewswireModel

// The payload coding of the model's types (PROTOCOL.md §5.4–5.6): the fields of articles, search requests and
// pages, nested in or forming the messages.

// MARK: - PublishedTime (§5.4)

extension PublishedTime: FieldCoded {
    static var wireName: String { "PublishedTime" }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeSignedField(1, secondsSinceEpoch)
        buffer.writeSignedField(2, Int64(utcOffsetSeconds))
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var seconds: Int64 = 0
        var offset: Int32 = 0
        while let field = try reader.nextField() {
            switch field.number {
            case 1: seconds = try reader.readSigned(field.type)
            case 2:
                let value = try reader.readSigned(field.type)
                // Real offsets are within ±18 hours (RFC 3339 allows ±23:59). No abs(): Int64.min would trap.
                guard value > -86_400, value < 86_400 else {
                    throw reader.malformed("UTC offset \(value)s is beyond ±24h")
                }
                offset = Int32(value)
            default: try reader.skip(field.type)
            }
        }
        self.init(secondsSinceEpoch: seconds, utcOffsetSeconds: offset)
    }
}

// MARK: - Article (§5.5)

extension Article: FieldCoded {
    static var wireName: String { "Article" }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeStringField(1, id.rawValue)
        buffer.writeOptionalStringField(2, url)
        buffer.writeStringFieldIfNonEmpty(3, title)
        buffer.writeRepeatedStringField(4, subtitles)
        if let publishedAt { buffer.writeMessageField(5, publishedAt) }
        buffer.writeOptionalStringField(6, source)
        buffer.writeRepeatedStringField(7, reporters)
        buffer.writeRepeatedStringField(8, editors)
        buffer.writeRepeatedStringField(9, participants)
        buffer.writeRepeatedStringField(10, paragraphs)
        if let clicks { buffer.writeVarintField(11, UInt64(bitPattern: Int64(clicks))) }
        buffer.writeOptionalStringField(12, language)
        buffer.writeOptionalStringField(13, duplicateOf?.rawValue)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var id: String?
        var article = Article(id: "", title: "")
        while let field = try reader.nextField() {
            switch field.number {
            case 1: id = try reader.readString(field.type)
            case 2: article.url = try reader.readString(field.type)
            case 3: article.title = try reader.readString(field.type)
            case 4: article.subtitles.append(try reader.readString(field.type))
            case 5:
                let published = try reader.readMessage(field.type, as: PublishedTime.self)
                // Records are stored with their time as RFC 3339 text: a time it cannot hold would be acknowledged
                // and then unreadable (and the store with it).
                guard published.isStorable else {
                    throw reader.malformed(
                        "published_at \(published.secondsSinceEpoch)s at UTC offset \(published.utcOffsetSeconds)s: a "
                            + "record's time must lie in years 0001–9999 of its own offset, and the offset must be "
                            + "whole minutes")
                }
                article.publishedAt = published
            case 6: article.source = try reader.readString(field.type)
            case 7: article.reporters.append(try reader.readString(field.type))
            case 8: article.editors.append(try reader.readString(field.type))
            case 9: article.participants.append(try reader.readString(field.type))
            case 10: article.paragraphs.append(try reader.readString(field.type))
            case 11: article.clicks = Int(Int64(bitPattern: try reader.readUInt64(field.type)))
            case 12: article.language = try reader.readString(field.type)
            case 13: article.duplicateOf = ArticleID(try reader.readString(field.type))
            default: try reader.skip(field.type)
            }
        }
        guard let id, !id.isEmpty else { throw reader.missing("1 (id, non-empty)") }
        article.id = ArticleID(id)
        self = article
    }
}

/// An article in its wire encoding (PROTOCOL.md §5.5), encoded once and reusable.
///
/// The server keeps records it serves often as `ArticleRecord`s so GET splices the cached bytes into a
/// response without re-encoding. Received records are not decoded until ``decode()`` is called.
public struct ArticleRecord: Sendable, Hashable {
    /// The `Article` message bytes (without field tag or length prefix).
    public let bytes: ByteBuffer

    /// Encodes an article.
    public init(_ article: Article) {
        var buffer = ByteBuffer()
        article.encodeFields(into: &buffer)
        bytes = buffer
    }

    /// Wraps bytes already in the `Article` encoding (e.g. a cache entry, or a field just read off the wire).
    public init(encodedBytes: ByteBuffer) {
        bytes = encodedBytes
    }

    /// Decodes and validates the article.
    public func decode() throws(ProtocolError) -> Article {
        try Article(wirePayload: bytes)
    }

    /// Bytes this record adds to a message as a repeated field (tag, length prefix, record).
    public var encodedFieldSize: Int { 1 + varintSize(UInt64(bytes.readableBytes)) + bytes.readableBytes }

    /// Splits records, in order, into batches whose encoded size stays within `maxPayloadLength` (leave room for
    /// the message's other fields), for streaming ARTICLES and SCAN_BATCH frames (PROTOCOL.md §3.5).
    /// A record larger than the budget on its own gets a batch of its own.
    public static func batches(_ records: [ArticleRecord], maxPayloadLength: Int) -> [[ArticleRecord]] {
        var batches: [[ArticleRecord]] = []
        var current: [ArticleRecord] = []
        var size = 0
        for record in records {
            let recordSize = record.encodedFieldSize
            if !current.isEmpty, size + recordSize > maxPayloadLength {
                batches.append(current)
                current = []
                size = 0
            }
            current.append(record)
            size += recordSize
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }
}

extension ByteBuffer {
    mutating func writeRecordField(_ field: UInt32, _ record: ArticleRecord) {
        writeBytesField(field, record.bytes)
    }
}

extension WireReader {
    mutating func readRecord(_ type: WireType) throws(ProtocolError) -> ArticleRecord {
        ArticleRecord(encodedBytes: try readBytes(type))
    }

    mutating func readArticleID(_ type: WireType) throws(ProtocolError) -> ArticleID {
        ArticleID(try readString(type))
    }

    /// Reads a message whose one known field is field 1, a repeated article id (GET_MANY, DELETE), refusing more
    /// than ``ProtocolLimits/maxBatchCount`` ids as soon as the next one arrives; unknown fields are skipped.
    mutating func readIDList() throws(ProtocolError) -> [ArticleID] {
        try readIDListAndPosition().ids
    }

    /// Field 1 as ids, and field 15 (§5.18) when present.
    mutating func readIDListAndPosition() throws(ProtocolError) -> (ids: [ArticleID], minPosition: UInt64?) {
        var ids: [ArticleID] = []
        var minPosition: UInt64?
        while let field = try nextField() {
            switch field.number {
            case 1:
                ids.append(try readArticleID(field.type))
                try checkBatch(ids.count, "ids")
            case FeedPosition.field: minPosition = try readUInt64(field.type)
            default: try skip(field.type)
            }
        }
        return (ids, minPosition)
    }
}

extension ByteBuffer {
    /// Writes each id as a repeated string field.
    mutating func writeArticleIDs(_ field: UInt32, _ ids: [ArticleID]) {
        for id in ids { writeStringField(field, id.rawValue) }
    }
}

// MARK: - Search (§5.6)

extension SearchRequest: FieldCoded, WireMessage {
    static var wireName: String { "Search" }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeStringFieldIfNonEmpty(1, text)
        buffer.writeRepeatedStringField(2, sources)
        if let publishedFrom { buffer.writeMessageField(3, publishedFrom) }
        if let publishedBefore { buffer.writeMessageField(4, publishedBefore) }
        buffer.writeVarintFieldIfNonZero(5, UInt64(sort.rawValue))
        buffer.writeCountField(6, offset)
        buffer.writeCountField(7, limit)
        buffer.writeBoolField(8, includeSnippets)
        buffer.writeCountField(9, snippetLength)
        buffer.writePackedVarintField(10, facets.map { UInt64($0.rawValue) })
        buffer.writeCountField(11, facetLimit)
        if let minPosition { buffer.writeVarintField(FeedPosition.field, minPosition) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var request = SearchRequest(
            text: "", sort: .relevance, offset: 0, limit: 0, includeSnippets: false, snippetLength: 0,
            facets: [], facetLimit: 0)
        var facets: [UInt64] = []
        while let field = try reader.nextField() {
            switch field.number {
            case 1: request.text = try reader.readString(field.type)
            case 2: request.sources.append(try reader.readString(field.type))
            case 3: request.publishedFrom = try reader.readMessage(field.type, as: PublishedTime.self)
            case 4: request.publishedBefore = try reader.readMessage(field.type, as: PublishedTime.self)
            case 5:
                let raw = try reader.readUInt64(field.type)
                guard raw <= UInt8.max, let sort = SearchSort(rawValue: UInt8(raw)) else {
                    throw reader.malformed("unknown sort \(raw) (0 relevance, 1 newest, 2 oldest)")
                }
                request.sort = sort
            case 6: request.offset = try reader.readCount(field.type)
            case 7: request.limit = try reader.readCount(field.type)
            case 8: request.includeSnippets = try reader.readBool(field.type)
            case 9: request.snippetLength = try reader.readCount(field.type)
            case 10: try reader.readPackedVarints(field.type, into: &facets)
            case 11: request.facetLimit = try reader.readCount(field.type)
            case FeedPosition.field: request.minPosition = try reader.readUInt64(field.type)
            default: try reader.skip(field.type)
            }
        }
        for raw in facets {
            guard raw <= UInt8.max, let facet = FacetField(rawValue: UInt8(raw)) else {
                throw reader.malformed("unknown facet field \(raw) (0 source, 1 month, 2 person)")
            }
            request.facets.append(facet)
        }
        self = request
    }

    /// Appends the SEARCH payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a SEARCH payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}

extension SearchHit: FieldCoded {
    static var wireName: String { "SearchHit" }

    func encodeFields(into buffer: inout ByteBuffer) {
        encodeHeadFields(into: &buffer)
        buffer.writeStringFieldIfNonEmpty(6, snippet)
        // Start and end of each range, read in place (an array of them was an allocation per hit encoded).
        let highlights = self.highlights
        let offsets = (0..<highlights.count * 2).lazy.map { i -> UInt64 in
            let range = highlights[i >> 1]
            return UInt64(max(0, i & 1 == 0 ? range.start : range.end))
        }
        buffer.writePackedVarintField(7, offsets)
    }

    /// The fields before the snippet (id, title, source, publishedAt, score): ``EncodedHitHead``.
    func encodeHeadFields(into buffer: inout ByteBuffer) {
        buffer.writeStringField(1, id.rawValue)
        buffer.writeStringFieldIfNonEmpty(2, title)
        buffer.writeOptionalStringField(3, source)
        if let publishedAt { buffer.writeMessageField(4, publishedAt) }
        buffer.writeDoubleField(5, score)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var id: String?
        var hit = SearchHit(id: "", title: "", source: nil, publishedAt: nil, score: 0)
        var offsets: [UInt64] = []
        while let field = try reader.nextField() {
            switch field.number {
            case 1: id = try reader.readString(field.type)
            case 2: hit.title = try reader.readString(field.type)
            case 3: hit.source = try reader.readString(field.type)
            case 4: hit.publishedAt = try reader.readMessage(field.type, as: PublishedTime.self)
            case 5: hit.score = try reader.readDouble(field.type)
            case 6: hit.snippet = try reader.readString(field.type)
            case 7: try reader.readPackedVarints(field.type, into: &offsets)
            default: try reader.skip(field.type)
            }
        }
        guard let id else { throw reader.missing("1 (id)") }
        hit.id = ArticleID(id)
        guard offsets.count % 2 == 0 else {
            throw reader.malformed("highlights hold \(offsets.count) offsets; they must come in start/end pairs")
        }
        var index = 0
        while index < offsets.count {
            let start = offsets[index]
            let end = offsets[index + 1]
            guard start <= end, end <= UInt64(UInt32.max) else {
                throw reader.malformed("highlight [\(start), \(end)) is not a valid half-open range")
            }
            hit.highlights.append(HighlightRange(start: Int(start), end: Int(end)))
            index += 2
        }
        self = hit
    }
}

extension FacetCount: FieldCoded {
    static var wireName: String { "FacetCount" }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeStringFieldIfNonEmpty(1, value)
        buffer.writeCountField(2, count)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var value = ""
        var count = 0
        while let field = try reader.nextField() {
            switch field.number {
            case 1: value = try reader.readString(field.type)
            case 2: count = try reader.readCount(field.type)
            default: try reader.skip(field.type)
            }
        }
        self.init(value: value, count: count)
    }
}

extension Facet: FieldCoded {
    static var wireName: String { "Facet" }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeVarintFieldIfNonZero(1, UInt64(field.rawValue))
        for count in counts { buffer.writeMessageField(2, count) }
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var facet = Facet(field: .source, counts: [])
        while let field = try reader.nextField() {
            switch field.number {
            case 1:
                let raw = try reader.readUInt64(field.type)
                guard raw <= UInt8.max, let value = FacetField(rawValue: UInt8(raw)) else {
                    throw reader.malformed("unknown facet field \(raw) (0 source, 1 month, 2 person)")
                }
                facet.field = value
            case 2: facet.counts.append(try reader.readMessage(field.type, as: FacetCount.self))
            default: try reader.skip(field.type)
            }
        }
        self = facet
    }
}

extension SearchPage: FieldCoded, WireMessage {
    static var wireName: String { "SearchPage" }

    func encodeFields(into buffer: inout ByteBuffer) {
        buffer.writeCountField(1, total)
        for hit in hits { buffer.writeMessageField(2, hit) }
        for facet in facets { buffer.writeMessageField(3, facet) }
        buffer.writeCountField(4, tookMicros)
    }

    init(reader: inout WireReader) throws(ProtocolError) {
        var page = SearchPage(total: 0, hits: [])
        while let field = try reader.nextField() {
            switch field.number {
            case 1: page.total = try reader.readCount(field.type)
            case 2: page.hits.append(try reader.readMessage(field.type, as: SearchHit.self))
            case 3: page.facets.append(try reader.readMessage(field.type, as: Facet.self))
            case 4: page.tookMicros = try reader.readCount(field.type)
            default: try reader.skip(field.type)
            }
        }
        self = page
    }

    /// Appends the SEARCH_RESULT / RELATED_RESULT payload.
    public func encode(into buffer: inout ByteBuffer) { encodeFields(into: &buffer) }
    /// Decodes a SEARCH_RESULT / RELATED_RESULT payload.
    public init(decoding payload: ByteBuffer) throws(ProtocolError) { try self.init(wirePayload: payload) }
}
