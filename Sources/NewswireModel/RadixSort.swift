/// Sorts 64-bit keys ascending by least-significant-digit radix sort, a byte per pass; a pass whose byte is the same
/// in every key is skipped. The ingest sorts many random-looking integers per article (shingle hashes, a segment's
/// term keys), where the standard library's comparison sort (a stable merge sort through a closure) was 9% of the
/// server's CPU during a page ingest.
package enum RadixSort {
    /// Below this many keys an insertion sort is cheaper than eight histograms.
    static let insertionSortLimit = 48

    /// Sorts `keys` ascending.
    package static func sort(_ keys: inout [UInt64]) {
        var none: [UInt32] = []
        sort(&keys, payload: &none, carrying: false)
    }

    /// Sorts `keys` ascending and moves `payload[i]` along with `keys[i]` (equal keys keep their order).
    package static func sort(_ keys: inout [UInt64], carrying payload: inout [UInt32]) {
        precondition(payload.count == keys.count, "one payload value per key")
        sort(&keys, payload: &payload, carrying: true)
    }

    private static func sort(_ keys: inout [UInt64], payload: inout [UInt32], carrying: Bool) {
        let n = keys.count
        if n <= insertionSortLimit {
            insertionSort(&keys, payload: &payload, carrying: carrying)
            return
        }
        // Every byte's histogram in one pass over the keys.
        var counts = [Int](repeating: 0, count: 8 * 256)
        keys.withUnsafeBufferPointer { keys in
            counts.withUnsafeMutableBufferPointer { counts in
                for key in keys {
                    for byte in 0..<8 { counts[byte << 8 | Int(truncatingIfNeeded: key >> (8 * byte)) & 0xFF] += 1 }
                }
            }
        }
        var otherKeys = [UInt64](repeating: 0, count: n)
        var otherPayload = [UInt32](repeating: 0, count: carrying ? n : 0)
        var offsets = [Int](repeating: 0, count: 256)
        for byte in 0..<8 {
            let shift = UInt64(8 * byte)
            let first = Int(truncatingIfNeeded: keys[0] >> shift) & 0xFF
            if counts[byte << 8 | first] == n { continue }  // one value of this byte: the pass changes nothing
            var sum = 0
            for digit in 0..<256 {
                offsets[digit] = sum
                sum += counts[byte << 8 | digit]
            }
            keys.withUnsafeBufferPointer { source in
                otherKeys.withUnsafeMutableBufferPointer { target in
                    offsets.withUnsafeMutableBufferPointer { offsets in
                        if carrying {
                            payload.withUnsafeBufferPointer { sourcePayload in
                                otherPayload.withUnsafeMutableBufferPointer { targetPayload in
                                    for i in 0..<n {
                                        let digit = Int(truncatingIfNeeded: source[i] >> shift) & 0xFF
                                        let slot = offsets[digit]
                                        offsets[digit] = slot + 1
                                        target[slot] = source[i]
                                        targetPayload[slot] = sourcePayload[i]
                                    }
                                }
                            }
                        } else {
                            for key in source {
                                let digit = Int(truncatingIfNeeded: key >> shift) & 0xFF
                                let slot = offsets[digit]
                                offsets[digit] = slot + 1
                                target[slot] = key
                            }
                        }
                    }
                }
            }
            swap(&keys, &otherKeys)
            if carrying { swap(&payload, &otherPayload) }
        }
    }

    private static func insertionSort(_ keys: inout [UInt64], payload: inout [UInt32], carrying: Bool) {
        guard keys.count > 1 else { return }
        for i in 1..<keys.count {
            let key = keys[i]
            let value = carrying ? payload[i] : 0
            var j = i
            while j > 0, keys[j - 1] > key {
                keys[j] = keys[j - 1]
                if carrying { payload[j] = payload[j - 1] }
                j -= 1
            }
            keys[j] = key
            if carrying { payload[j] = value }
        }
    }
}
