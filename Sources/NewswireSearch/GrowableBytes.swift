/// A growable byte buffer for the postings writer's hot appends (a few bytes at a time, tens of millions of times
/// per merge): `Array.append(contentsOf:)` cost about 80 instructions per call in its generic path, more than the
/// bytes it copied. Grows geometrically; not copyable in meaning (a class, owned by one writer).
final class GrowableBytes {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 4_096) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Makes room for `extra` more bytes.
    @inline(__always)
    func reserve(_ extra: Int) {
        if count &+ extra > capacity { grow(to: count &+ extra) }
    }

    @inline(never)
    private func grow(to needed: Int) {
        let newCapacity = max(needed, capacity &* 2)
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBase.update(from: base, count: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count &+= 1
    }

    @inline(__always)
    func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        guard n > 0 else { return }
        reserve(n)
        let source = bytes.baseAddress!
        let target = base + count
        if n <= 16 {
            for i in 0..<n { target[i] = source[i] }  // short: a loop beats a call to memmove
        } else {
            target.update(from: source, count: n)
        }
        count &+= n
    }

    /// Appends `value`'s little-endian bytes.
    @inline(__always)
    func append<T: FixedWidthInteger>(littleEndian value: T) {
        reserve(MemoryLayout<T>.size)
        UnsafeMutableRawPointer(base + count).storeBytes(of: value.littleEndian, as: T.self)
        count &+= MemoryLayout<T>.size
    }

    /// Appends `value` as a LEB128 varint (``Varint``).
    @inline(__always)
    func appendVarint(_ value: UInt64) {
        reserve(10)
        var v = value
        while v >= 0x80 {
            base[count] = UInt8(truncatingIfNeeded: v) | 0x80
            count &+= 1
            v >>= 7
        }
        base[count] = UInt8(truncatingIfNeeded: v)
        count &+= 1
    }

    /// Forgets the bytes, keeping the memory.
    func removeAll() { count = 0 }

    /// The bytes from `start` on, valid until the next append.
    func bytes(from start: Int = 0) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base + start, count: count - start)
    }

    /// A copy of the bytes as an array (sized to them).
    var array: [UInt8] { Array(bytes()) }
}
