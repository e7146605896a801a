import NIOCore
import NIOPosix
import NewswireProtocol

/// What a load connection has received: bytes accumulated across reads and split into frames in place (no copy,
/// no inflating), shared by the request load (``LoadConnectionHandler``) and the watch load (``WatchLoadHandler``).
struct ReceivedFrames {
    private(set) var bytes = ByteBuffer()

    /// A whole frame's header; its payload is `length` bytes at `payloadAt` in ``bytes``.
    struct Header {
        var flags: FrameFlags
        var opcode: Opcode
        var requestID: UInt32
        var payloadAt: Int
        var length: Int
    }

    enum Next {
        case frame(Header)
        /// The next frame is not all here yet.
        case incomplete
        /// The next frame declares this many payload bytes, more than the limit.
        case oversized(Int)
    }

    mutating func append(_ incoming: inout ByteBuffer) {
        if bytes.readableBytes == 0 {
            bytes = incoming
        } else {
            bytes.writeBuffer(&incoming)
        }
    }

    /// The next whole frame, if there is one; it stays unread (its payload readable) until ``consume(_:)``.
    func next(maxLength: Int) -> Next {
        guard bytes.readableBytes >= FrameHeader.length else { return .incomplete }
        let base = bytes.readerIndex
        let length = Int(bytes.getInteger(at: base + 8, endianness: .big, as: UInt32.self)!)
        guard length <= maxLength else { return .oversized(length) }
        guard bytes.readableBytes >= FrameHeader.length + length else { return .incomplete }
        let header = Header(
            flags: FrameFlags(rawValue: bytes.getInteger(at: base + 1, as: UInt8.self)!),
            opcode: Opcode(rawValue: bytes.getInteger(at: base + 2, endianness: .big, as: UInt16.self)!),
            requestID: bytes.getInteger(at: base + 4, endianness: .big, as: UInt32.self)!,
            payloadAt: base + FrameHeader.length, length: length)
        return .frame(header)
    }

    /// Marks `header`'s frame read.
    mutating func consume(_ header: Header) {
        bytes.moveReaderIndex(to: header.payloadAt + header.length)
    }

    /// The payload of `header`'s frame.
    func payload(_ header: Header) -> ByteBuffer {
        bytes.getSlice(at: header.payloadAt, length: header.length) ?? ByteBuffer()
    }

    /// Drops what was read: all of it when nothing is left, else once 64 KiB were.
    mutating func compact() {
        if bytes.readableBytes == 0 {
            bytes.clear()
        } else if bytes.readerIndex > 1 << 16 {
            bytes.discardReadBytes()
        }
    }

    /// RESP replies are split by the RESP parser over the same bytes.
    var unread: ByteBuffer {
        _read { yield bytes }
        _modify { yield &bytes }
    }

    /// A HELLO frame (request id 0), the first thing a load connection sends.
    static func hello(_ hello: HelloMessage, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 128)
        var encoder = FrameEncoder()
        encoder.encode(.hello(hello), requestID: RequestID(0), into: &buffer)
        return buffer
    }
}

/// What every load connection's handler does the same way when the channel ends: its run fails with a reason.
protocol LoadChannelHandler: ChannelInboundHandler {
    /// Ends the connection's run with `message` (once; later calls are ignored).
    func fail(_ message: String)
}

extension LoadChannelHandler {
    func channelInactive(context: ChannelHandlerContext) {
        fail("connection closed by the server")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("connection error: \(error)")
        context.close(promise: nil)
    }
}

/// What a failed TCP connect means, in the terms the other commands use (after "cannot connect to HOST:PORT"):
/// SwiftNIO's description names its own types and errno.
func describeConnectFailure(_ error: any Error) -> String {
    let text = "\(error)".lowercased()
    if text.contains("refused") { return ": connection refused (is newswired running there?)" }
    if text.contains("timed out") || text.contains("timeout") { return ": no answer (timed out; is the address right?)" }
    if text.contains("resolve") || text.contains("getaddrinfo") || text.contains("no address") {
        return ": unknown host"
    }
    return ": \(error) (is newswired running there?)"
}

/// Connects `handler` (a load connection's, bound to `eventLoop`) to `host:port` and waits until it completes
/// `handshake` (its WELCOME); each step gives up after `timeoutMillis` with an error naming the address. When the
/// TCP connection cannot be made, `connectFailed` gets the error first, to settle the handler's other promises.
func connectLoadChannel<Handler: LoadChannelHandler>(
    _ handler: NIOLoopBound<Handler>, host: String, port: Int, eventLoop: any EventLoop, timeoutMillis: Int64,
    handshake: EventLoopPromise<Void>, connectFailed: (LoadConfigurationError) -> Void
) async throws -> any Channel {
    let bootstrap = ClientBootstrap(group: eventLoop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .connectTimeout(.milliseconds(timeoutMillis))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
        }
    let channel: any Channel
    do {
        channel = try await bootstrap.connect(host: host, port: port).get()
    } catch {
        let failure = LoadConfigurationError("cannot connect to \(host):\(port)" + describeConnectFailure(error))
        connectFailed(failure)
        throw failure
    }
    let timeout = eventLoop.scheduleTask(in: .milliseconds(timeoutMillis)) {
        handshake.fail(
            LoadConfigurationError("no WELCOME from \(host):\(port) within \(timeoutMillis) ms; is it a Newswire server?"))
        channel.close(promise: nil)
    }
    do {
        try await handshake.futureResult.get()
        timeout.cancel()
    } catch {
        timeout.cancel()
        channel.close(promise: nil)
        throw error
    }
    return channel
}
