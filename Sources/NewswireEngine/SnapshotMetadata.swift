import NewswireModel

/// What the engine stores in the index snapshot's metadata: which store and change sequence the snapshot
/// covers, and the near-duplicate table (rebuilding it would mean reading every body from the store).
///
/// Layout (little-endian): magic `NWEM`, u32 version (2), string store identifier, u64 sequence, varint entry
/// count, then per entry: string id, i64 published key, u8 has-duplicateOf + string, u64 content hash,
/// u64 fingerprint, u8 band count + that many u32 band keys. Strings are varint length + UTF-8.
struct SnapshotMetadata {
    static let magic: [UInt8] = Array("NWEM".utf8)
    static let version: UInt32 = 2

    var storeIdentifier: String
    var sequence: UInt64
    var duplicates: DuplicateTable

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + duplicates.liveCount * 80)
        out += Self.magic
        putU32(&out, Self.version)
        putString(&out, storeIdentifier)
        putU64(&out, sequence)
        putVarint(&out, UInt64(duplicates.liveCount))
        duplicates.forEachLive { id, publishedKey, original, contentHash, fingerprint, bandKeys in
            putString(&out, id.rawValue)
            putU64(&out, UInt64(bitPattern: publishedKey))
            if let original {
                out.append(1)
                putString(&out, original.rawValue)
            } else {
                out.append(0)
            }
            putU64(&out, contentHash)
            putU64(&out, fingerprint)
            out.append(UInt8(bandKeys?.count ?? 0))
            for key in bandKeys ?? [] { putU32(&out, key) }
        }
        return out
    }

    /// The header: which store and sequence the snapshot covers, and where the table starts.
    struct Header {
        var storeIdentifier: String
        var sequence: UInt64
        var tableOffset: Int
    }

    /// Decodes the header only (cheap), so the table can be decoded later, off the open path.
    static func decodeHeader(_ bytes: [UInt8]) -> Result<Header, MetadataError> {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(buffer: buffer)
            guard reader.bytes(magic.count).map(Array.init) == magic else {
                return .failure(MetadataError(reason: "snapshot metadata is not the engine's (bad magic)"))
            }
            guard let version = reader.u32(), version == Self.version else {
                return .failure(MetadataError(reason: "snapshot metadata version is not \(Self.version)"))
            }
            guard let identifier = reader.string(), let sequence = reader.u64() else {
                return .failure(MetadataError(reason: "snapshot metadata is truncated"))
            }
            return .success(Header(storeIdentifier: identifier, sequence: sequence, tableOffset: reader.offset))
        }
    }

    /// Decodes the near-duplicate table that starts at `offset`.
    static func decodeTable(_ bytes: [UInt8], from offset: Int) -> Result<DuplicateTable, MetadataError> {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(buffer: buffer)
            reader.offset = offset
            guard let count = reader.varint(), count <= UInt64(buffer.count) else {
                return .failure(MetadataError(reason: "snapshot metadata is truncated"))
            }
            var table = DuplicateTable()
            table.reserveCapacity(Int(count))
            var keys: [UInt32] = []
            keys.reserveCapacity(TextFeatures.bands)
            for _ in 0..<count {
                guard let id = reader.string(), let key = reader.u64(), let flag = reader.u8() else {
                    return .failure(MetadataError(reason: "snapshot metadata is truncated"))
                }
                var root: ArticleID?
                if flag == 1 {
                    guard let text = reader.string() else {
                        return .failure(MetadataError(reason: "snapshot metadata is truncated"))
                    }
                    root = ArticleID(text)
                }
                guard let hash = reader.u64(), let fingerprint = reader.u64(), let bandCount = reader.u8() else {
                    return .failure(MetadataError(reason: "snapshot metadata is truncated"))
                }
                keys.removeAll(keepingCapacity: true)
                for _ in 0..<bandCount {
                    guard let k = reader.u32() else {
                        return .failure(MetadataError(reason: "snapshot metadata is truncated"))
                    }
                    keys.append(k)
                }
                table.append(
                    id: ArticleID(id), publishedKey: Int64(bitPattern: key), duplicateOf: root, contentHash: hash,
                    fingerprint: fingerprint, bandKeys: keys)
            }
            guard reader.offset == buffer.count else {
                return .failure(MetadataError(reason: "snapshot metadata has trailing bytes"))
            }
            guard table.distinctIDCount == Int(count) else {
                return .failure(MetadataError(reason: "snapshot metadata repeats an article id"))
            }
            return .success(table)
        }
    }

    private struct Reader {
        let buffer: UnsafeBufferPointer<UInt8>
        var offset = 0

        mutating func bytes(_ n: Int) -> UnsafeBufferPointer<UInt8>.SubSequence? {
            guard n >= 0, offset + n <= buffer.count else { return nil }
            defer { offset += n }
            return buffer[offset..<(offset + n)]
        }
        mutating func u8() -> UInt8? { bytes(1)?.first }
        mutating func u32() -> UInt32? {
            guard let b = bytes(4) else { return nil }
            return b.reversed().reduce(0) { $0 << 8 | UInt32($1) }
        }
        mutating func u64() -> UInt64? {
            guard let b = bytes(8) else { return nil }
            return b.reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while shift < 64 {
                guard let b = u8() else { return nil }
                value |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        mutating func string() -> String? {
            guard let n = varint(), n <= UInt64(buffer.count), let b = bytes(Int(n)) else { return nil }
            return String(decoding: UnsafeBufferPointer(rebasing: b), as: UTF8.self)
        }
    }
}

private func putU32(_ out: inout [UInt8], _ v: UInt32) {
    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
}

private func putU64(_ out: inout [UInt8], _ v: UInt64) {
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}

/// Appends `value` as an unsigned LEB128 varint (snapshot metadata, shipped analysis pieces).
func putVarint(_ out: inout [UInt8], _ value: UInt64) {
    var v = value
    while v >= 0x80 {
        out.append(UInt8(v & 0x7F) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

private func putString(_ out: inout [UInt8], _ s: String) {
    putVarint(&out, UInt64(s.utf8.count))
    out += s.utf8
}

/// Why snapshot metadata could not be used.
struct MetadataError: Error {
    var reason: String
}
