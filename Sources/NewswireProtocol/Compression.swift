import CZlib
import NIOCore

/// Compression algorithms a peer can offer in HELLO and the server can pick in WELCOME (PROTOCOL.md §10).
public struct CompressionAlgorithm: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: UInt8
    /// Wraps a wire value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// No compression.
    public static let none = CompressionAlgorithm(rawValue: 0)
    /// zlib (RFC 1950) per frame, one stream per frame, stream state reset between frames.
    public static let zlib = CompressionAlgorithm(rawValue: 1)

    /// The spec's name or the value, for logs and error text.
    public var description: String {
        switch self {
        case .none: "none"
        case .zlib: "zlib"
        default: "compression#\(rawValue)"
        }
    }
}

/// The version of the zlib library linked in (e.g. `1.2.13`); compressed test vectors record it.
public var linkedZlibVersion: String { String(cString: zlibVersion()) }

/// One zlib deflate stream, allocated once per connection and reset between frames.
///
/// The `z_stream` lives at a fixed heap address because zlib keeps a pointer back to it.
final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    let level: Int32

    init(level: Int32) {
        self.level = level
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = deflateInit2_(
            stream, level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        // Only fails for bad parameters or out of memory; both are programming/system failures.
        precondition(status == Z_OK, "deflateInit2 failed with status \(status)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Appends a complete zlib stream of `input` to `output`.
    func compress(_ input: ByteBuffer, into output: inout ByteBuffer) {
        deflateReset(stream)
        let bound = Int(deflateBound(stream, uLong(input.readableBytes)))
        input.withUnsafeReadableBytes { inBytes in
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: inBytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(inBytes.count)
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { outBytes in
                stream.pointee.next_out = outBytes.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(outBytes.count)
                let status = deflate(stream, Z_FINISH)
                // With deflateBound bytes of room a single Z_FINISH call always completes.
                precondition(status == Z_STREAM_END, "deflate returned \(status) with deflateBound room")
                return outBytes.count - Int(stream.pointee.avail_out)
            }
        }
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
    }
}

/// One zlib inflate stream, allocated once per connection and reset between frames.
final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    /// The largest output buffer this inflater has allocated (tests check bombs never grow it past the limit).
    private(set) var largestAllocation = 0

    init() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = inflateInit_(stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "inflateInit failed with status \(status)")
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates one complete zlib stream that must produce exactly `declaredLength` bytes.
    ///
    /// The output buffer is allocated once at `declaredLength + 1` bytes (the caller has already checked the
    /// declared length against its limit); the extra byte detects a stream that inflates past its declaration
    /// without ever growing the buffer.
    func decompress(
        _ input: ByteBuffer, declaredLength: Int, allocator: ByteBufferAllocator
    ) throws(ProtocolError) -> ByteBuffer {
        inflateReset(stream)
        var output = allocator.buffer(capacity: declaredLength + 1)
        largestAllocation = max(largestAllocation, output.capacity)
        var status: Int32 = Z_OK
        var produced = 0
        var leftOver = 0
        input.withUnsafeReadableBytes { inBytes in
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: inBytes.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(inBytes.count)
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: declaredLength + 1) { outBytes in
                let room = declaredLength + 1
                stream.pointee.next_out = outBytes.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(room)
                status = inflate(stream, Z_FINISH)
                produced = room - Int(stream.pointee.avail_out)
                leftOver = Int(stream.pointee.avail_in)
                return min(produced, declaredLength)
            }
        }
        let zlibMessage = stream.pointee.msg.map { String(cString: $0) }
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        func failure(_ what: String) -> ProtocolError {
            ProtocolError(code: .decompressionFailed, message: "compressed payload: \(what)")
        }
        if produced > declaredLength {
            throw failure(
                "inflates past its declared length of \(declaredLength) bytes; "
                    + "the sender must declare the exact uncompressed length")
        }
        switch status {
        case Z_STREAM_END:
            guard produced == declaredLength else {
                throw failure("inflated to \(produced) bytes but declared \(declaredLength)")
            }
            guard leftOver == 0 else {
                throw failure("\(leftOver) bytes follow the end of the zlib stream")
            }
            return output
        case Z_BUF_ERROR:
            throw failure("zlib stream is truncated (inflated \(produced) of \(declaredLength) declared bytes)")
        case Z_NEED_DICT:
            throw failure("zlib stream asks for a preset dictionary, which the protocol does not use")
        case Z_MEM_ERROR:
            throw ProtocolError(code: .internal, message: "out of memory while inflating a frame")
        default:
            throw failure("not a valid zlib stream (\(zlibMessage ?? "zlib status \(status)"))")
        }
    }
}
