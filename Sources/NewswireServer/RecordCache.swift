import NIOConcurrencyHelpers
import NIOCore
import NewswireModel
import NewswireProtocol

/// Encoded ARTICLE payloads kept in memory so GET is answered without touching the store or re-encoding, and,
/// once a zlib connection asks, without re-compressing either.
///
/// Bounded by bytes; when full, entries are evicted in insertion order (old records are the least likely to be
/// hot in a news archive). Writes invalidate the ids they touch before they are acknowledged.
///
/// Keyed by the id's UTF-8 bytes, byte-exact like the store, so the pipeline fast path looks a GET up with a
/// slice of the request frame: no `String` is built (ids over 15 bytes would each cost an allocation).
final class RecordCache: Sendable {
    /// One cached ARTICLE payload.
    struct Entry: Sendable {
        /// The ARTICLE message payload (field 1 wrapping the record).
        let payload: ByteBuffer
        /// The same payload as a zlib stream, when compression makes it smaller.
        let compressed: ByteBuffer?

        /// What to send on a connection with this handshake: the cached zlib stream when the connection agreed on
        /// zlib and the payload reaches its threshold, else the plain payload (never compressed again per request).
        func payload(for handshake: Handshake) -> OutboundPayload {
            if handshake.welcome.compression == .zlib,
                payload.readableBytes >= Int(handshake.welcome.compressionThreshold),
                let compressed
            {
                return .precompressed(zlib: compressed, uncompressedLength: UInt32(payload.readableBytes))
            }
            return .plain(payload)
        }
    }

    private struct State {
        var entries: [ByteBuffer: Entry] = [:]
        var insertionOrder: [ByteBuffer] = []
        var evictionCursor = 0
        var bytes = 0
        var hits: Int64 = 0
        var misses: Int64 = 0
    }

    private let state = NIOLockedValueBox(State())
    private let capacityBytes: Int

    init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    func entry(for id: ArticleID) -> Entry? {
        entry(forIDBytes: Self.key(id))
    }

    /// The entry for the id whose UTF-8 bytes are `idBytes`' readable bytes.
    func entry(forIDBytes idBytes: ByteBuffer) -> Entry? {
        state.withLockedValue { state in
            if let entry = state.entries[idBytes] {
                state.hits += 1
                return entry
            }
            state.misses += 1
            return nil
        }
    }

    /// Encodes `article` once (and its zlib form once) and keeps both.
    @discardableResult
    func insert(_ article: Article) -> Entry {
        var payload = ByteBuffer()
        ArticleMessage(article).encode(into: &payload)
        var encoder = FrameEncoder(compression: .zlib)
        let entry = Entry(payload: payload, compressed: encoder.compressPayload(payload))
        let size = payload.readableBytes + (entry.compressed?.readableBytes ?? 0)
        guard size <= capacityBytes / 4 else { return entry }
        let key = Self.key(article.id)
        state.withLockedValue { state in
            if let old = state.entries.updateValue(entry, forKey: key) {
                state.bytes -= old.payload.readableBytes + (old.compressed?.readableBytes ?? 0)
            } else {
                state.insertionOrder.append(key)
            }
            state.bytes += size
            while state.bytes > capacityBytes, state.evictionCursor < state.insertionOrder.count {
                let victim = state.insertionOrder[state.evictionCursor]
                state.evictionCursor += 1
                if victim != key, let old = state.entries.removeValue(forKey: victim) {
                    state.bytes -= old.payload.readableBytes + (old.compressed?.readableBytes ?? 0)
                }
            }
            if state.evictionCursor > 4096, state.evictionCursor * 2 > state.insertionOrder.count {
                // Compact the order list so it does not grow without bound.
                state.insertionOrder.removeFirst(state.evictionCursor)
                state.insertionOrder.removeAll { state.entries[$0] == nil }
                state.evictionCursor = 0
            }
        }
        return entry
    }

    func invalidate(_ ids: some Sequence<ArticleID>) {
        let keys = ids.map(Self.key)
        state.withLockedValue { state in
            for key in keys {
                if let old = state.entries.removeValue(forKey: key) {
                    state.bytes -= old.payload.readableBytes + (old.compressed?.readableBytes ?? 0)
                }
            }
        }
    }

    private static func key(_ id: ArticleID) -> ByteBuffer { ByteBuffer(string: id.rawValue) }

    func statEntries() -> [StatEntry] {
        let (count, bytes, hits, misses) = state.withLockedValue { ($0.entries.count, $0.bytes, $0.hits, $0.misses) }
        return [
            StatEntry(name: "cache.records", value: .integer(Int64(count))),
            StatEntry(name: "cache.bytes", value: .integer(Int64(bytes))),
            StatEntry(name: "cache.hits", value: .integer(hits)),
            StatEntry(name: "cache.misses", value: .integer(misses)),
        ]
    }
}
