#if canImport(Glibc)
    import Glibc
    private let systemRead = Glibc.read
#elseif canImport(Darwin)
    import Darwin
    private let systemRead = Darwin.read
#endif

/// A snapshot file could not be written or read.
public struct SnapshotError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file involved.
    public var path: String
    /// What went wrong and what to do.
    public var message: String

    /// Creates an error for `path`.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `index snapshot <path>: <message>`.
    public var description: String { "index snapshot \(path): \(message)" }
}

/// Little-endian binary writer for snapshots. Bytes accumulate in `bytes`; with a `flush` they are handed on
/// whenever a chunk is full (so a snapshot is never whole in memory), and with `countOnly` they are only counted
/// (the size pass: the checksum starts from the payload's length).
struct ByteWriter {
    var bytes: [UInt8] = []
    /// Bytes written so far, flushed or not.
    private(set) var count = 0
    private let countOnly: Bool
    private let flush: ((UnsafeRawBufferPointer) -> Void)?
    static let chunkSize = 1 << 20

    init(countOnly: Bool = false, flush: ((UnsafeRawBufferPointer) -> Void)? = nil) {
        self.countOnly = countOnly
        self.flush = flush
        if flush != nil { bytes.reserveCapacity(Self.chunkSize) }
    }

    mutating func u8(_ v: UInt8) {
        count += 1
        if !countOnly { bytes.append(v) }
    }

    mutating func raw(_ buffer: UnsafeRawBufferPointer) {
        count += buffer.count
        if countOnly { return }
        guard let flush, bytes.count + buffer.count > Self.chunkSize else {
            bytes.append(contentsOf: buffer)
            return
        }
        // Large arrays go straight from the index to the sink, without a copy.
        flushPending()
        flush(buffer)
    }

    /// Hands the buffered bytes to `flush` (when there is one).
    mutating func flushPending() {
        guard let flush, !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { flush($0) }
        bytes.removeAll(keepingCapacity: true)
    }

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { raw($0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { raw($0) } }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            u8(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        u8(UInt8(v))
    }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            raw(UnsafeRawBufferPointer(utf8))
        }
    }

    /// Raw array of trivial values (count then bytes), for flat postings.
    mutating func array<T: FixedWidthInteger>(_ values: [T]) {
        varint(UInt64(values.count))
        values.withUnsafeBytes { raw($0) }
    }
}

/// Little-endian binary reader that throws on truncation.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    let path: String


    private func fail(_ what: String) -> SnapshotError {
        SnapshotError(path: path, message: "corrupt snapshot (\(what) at byte \(offset)); delete it to rebuild")
    }

    mutating func u8() throws(SnapshotError) -> UInt8 {
        guard offset < bytes.count else { throw fail("truncated") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32() throws(SnapshotError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("truncated") }
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() throws(SnapshotError) -> UInt64 {
        guard offset + 8 <= bytes.count else { throw fail("truncated") }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }


    mutating func varint() throws(SnapshotError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            guard shift < 64 else { throw fail("bad varint") }
        }
    }

    mutating func count(max: Int) throws(SnapshotError) -> Int {
        let v = try varint()
        guard v <= UInt64(max) else { throw fail("implausible count \(v)") }
        return Int(v)
    }

    mutating func string() throws(SnapshotError) -> String {
        let n = try count(max: bytes.count - offset)
        defer { offset += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]), as: UTF8.self)
    }

    mutating func array<T: FixedWidthInteger>(of type: T.Type) throws(SnapshotError) -> [T] {
        let n = try count(max: (bytes.count - offset) / MemoryLayout<T>.size)
        let byteCount = n * MemoryLayout<T>.size
        let start = offset
        offset += byteCount
        return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + byteCount)]))
            initialized = n
        }
    }

    func corrupt(_ what: String) -> SnapshotError { fail(what) }
}

/// A fast 64-bit checksum (word-at-a-time multiply-xorshift) over the snapshot payload.
func snapshotChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var checksum = SnapshotChecksum(totalCount: bytes.count)
    checksum.update(bytes)
    return checksum.finish()
}

/// ``snapshotChecksum(_:)`` fed in pieces (the total length, which it starts from, known up front).
struct SnapshotChecksum {
    private var h: UInt64
    /// Bytes of an unfinished word (fewer than 8), the low byte first.
    private var pending: UInt64 = 0
    private var pendingCount = 0

    init(totalCount: Int) { h = 0x9E37_79B9_7F4A_7C15 ^ UInt64(totalCount) }

    @inline(__always) private mutating func word(_ w: UInt64) {
        h = (h ^ w) &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 32
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        while pendingCount > 0 && pendingCount < 8 && i < n {
            pending |= UInt64(bytes[i]) << (8 * UInt64(pendingCount))
            pendingCount += 1
            i += 1
            if pendingCount == 8 {
                word(pending)
                pending = 0
                pendingCount = 0
            }
        }
        while i + 8 <= n {
            word(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        while i < n {
            pending |= UInt64(bytes[i]) << (8 * UInt64(pendingCount))
            pendingCount += 1
            i += 1
        }
    }

    func finish() -> UInt64 {
        var h = self.h
        for k in 0..<pendingCount {
            h = (h ^ UInt64(UInt8(truncatingIfNeeded: pending >> (8 * UInt64(k))))) &* 0xC4CE_B9FE_1A85_EC53
        }
        h ^= h >> 29
        return h
    }
}

/// File helpers: atomic write (temp file, fsync, rename, fsync directory) and whole-file read.
enum SnapshotFile {
    static let magic: [UInt8] = Array("NWSIDX\r\n".utf8)

    static func errnoText() -> String { String(cString: strerror(errno)) }

    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SnapshotError) {
        try writeAtomically(to: path) { write in bytes.withUnsafeBytes { write($0) } }
    }

    /// Writes what `produce` hands to its `write` argument, in order, as the file at `path` (atomically).
    static func writeAtomically(
        to path: String, _ produce: (_ write: (UnsafeRawBufferPointer) -> Void) -> Void
    ) throws(SnapshotError) {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            throw SnapshotError(path: path, message: "cannot create \(temp): \(errnoText()); check the directory")
        }
        var failure: String? = nil
        produce { buffer in
            guard failure == nil else { return }
            var written = 0
            while written < buffer.count {
                let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "write failed: \(errnoText())"
                    return
                }
                written += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync failed: \(errnoText())" }
        close(fd)
        if let failure {
            unlink(temp)
            throw SnapshotError(path: path, message: failure + "; is the disk full?")
        }
        guard rename(temp, path) == 0 else {
            let text = errnoText()
            unlink(temp)
            throw SnapshotError(path: path, message: "rename from \(temp) failed: \(text)")
        }
        // Make the rename itself durable.
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let dfd = open(directory, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    static func read(_ path: String) throws(SnapshotError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SnapshotError(path: path, message: "cannot open: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SnapshotError(path: path, message: "cannot stat: \(errnoText())") }
        let size = Int(st.st_size)
        var failure: String? = nil
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let n = systemRead(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = n == 0 ? "file shrank while reading" : "read failed: \(errnoText())"
                    break
                }
                done += n
            }
            initialized = done
        }
        if let failure { throw SnapshotError(path: path, message: failure) }
        return bytes
    }
}
