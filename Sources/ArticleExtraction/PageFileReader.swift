import NewswireModel

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads page files for offline parsing, refusing oversized input without reading all of it.
public enum PageFileReader {
    /// Reads `path` (`-` for standard input), at most `maximumBytes`.
    ///
    /// - Throws: ``ExtractionError`` `.unreadable` when the file cannot be opened or read, `.tooLarge` when it
    ///   holds more than `maximumBytes` (only `maximumBytes + 1` bytes are read to find out).
    public static func read(path: String, maximumBytes: Int) throws(ExtractionError) -> [UInt8] {
        let file: UnsafeMutablePointer<FILE>?
        if path == "-" {
            file = fdopen(dup(0), "rb")
        } else {
            file = fopen(path, "rb")
        }
        guard let file else {
            let reason = String(cString: strerror(errno))
            throw ExtractionError(.unreadable, "cannot open file: \(reason)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count <= maximumBytes {
            let want = min(chunk.count, maximumBytes + 1 - bytes.count)
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, want, file) }
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < want {
                if ferror(file) != 0 {
                    let reason = String(cString: strerror(errno))
                    throw ExtractionError(.unreadable, "cannot read file: \(reason)")
                }
                break
            }
        }
        if bytes.count > maximumBytes {
            throw ExtractionError(
                .tooLarge,
                "input is over the \(maximumBytes)-byte limit; a news page is far smaller, so check this is the "
                    + "right file")
        }
        return bytes
    }
}
