/// Open-addressing hash table from non-zero UInt64 keys to UInt32 (linear probing, kept under half full).
struct UInt64Table {
    private var keys: [UInt64]
    private var values: [UInt32]
    private var count = 0
    private var mask: Int

    init(capacity: Int = 1 << 16) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: 0, count: size)
        values = [UInt32](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    /// The value for `key`, inserting `value` first when the key is new.
    @inline(__always) mutating func findOrInsert(_ key: UInt64, _ value: UInt32) -> UInt32 {
        var i = Self.slot(key, mask)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == 0 { break }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = value
        count += 1
        if count * 2 > keys.count { grow() }
        return value
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = [UInt64](repeating: 0, count: oldKeys.count * 2)
        values = [UInt32](repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        for (i, key) in oldKeys.enumerated() where key != 0 {
            var j = Self.slot(key, mask)
            while keys[j] != 0 { j = (j + 1) & mask }
            keys[j] = key
            values[j] = oldValues[i]
        }
    }
}
