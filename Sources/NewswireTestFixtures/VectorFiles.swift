import Foundation

/// The committed protocol vectors (proto-docs/vectors/): how every test target that generates or checks them
/// renders their JSON and reads their hex, so a regenerated file is byte-identical whichever target wrote it.
public enum VectorFiles {
    /// `object` as the committed files hold it: pretty-printed, keys sorted, slashes unescaped, one final newline.
    public static func render(_ object: Any) -> String {
        let data = try! JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Lowercase hex, two digits per byte, as the files write frames.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The bytes of a ``hex(_:)`` string (the committed files hold only valid hex).
    public static func bytes(fromHex hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.utf8.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
