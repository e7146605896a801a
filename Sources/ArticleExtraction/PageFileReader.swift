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
        let fd = path == "-" ? dup(0) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ExtractionError(.unreadable, "cannot open file: \(reason)")
        }
        defer { close(fd) }
        // A regular file is read straight into a buffer of its size (plus one byte to notice growth); other
        // input (a pipe) in chunks.
        var status = stat()
        let isRegular = fstat(fd, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
        var capacity = isRegular ? min(Int(status.st_size), maximumBytes) + 1 : 1 << 16
        var bytes: [UInt8] = []
        var readError: Int32 = 0
        while bytes.count <= maximumBytes {
            let want = min(capacity, maximumBytes + 1 - bytes.count)
            var got = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: want) { buffer, count in
                while got < want {
                    let n = systemRead(fd, buffer.baseAddress! + got, want - got)
                    if n < 0 {
                        if errno == EINTR { continue }
                        readError = errno
                        break
                    }
                    if n == 0 { break }
                    got += n
                }
                count = got
            }
            if readError != 0 {
                let reason = String(cString: strerror(readError))
                throw ExtractionError(.unreadable, "cannot read file: \(reason)")
            }
            if bytes.isEmpty { bytes = chunk } else { bytes += chunk }
            if got < want { break }
            capacity = 1 << 16
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

/// `read(2)` (inside ``PageFileReader`` the name means its own `read(path:maximumBytes:)`).
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutablePointer<UInt8>, _ count: Int) -> Int {
    read(fd, buffer, count)
}
