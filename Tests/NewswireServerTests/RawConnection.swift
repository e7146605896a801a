import NIOCore
import NewswireModel
import NewswireProtocol
import NewswireServer
import NewswireTestSupport

#if canImport(Glibc)
    import Glibc
    private let streamSocket = Int32(SOCK_STREAM.rawValue)
#elseif canImport(Darwin)
    import Darwin
    private let streamSocket = SOCK_STREAM
#endif

private func systemSocket() -> Int32 { socket(AF_INET, streamSocket, 0) }
private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { send(fd, bytes, count, 0) }
private func systemClose(_ fd: Int32) { _ = close(fd) }

struct TestConnectionError: Error, CustomStringConvertible {
    var description: String
}

/// A blocking loopback socket speaking raw frames, with a receive timeout so a missing answer fails the test
/// instead of hanging it. Plays a client written from the spec alone: it sends exactly the bytes it is given.
final class RawConnection {
    let socket: Int32
    var decoder = NewswireFrameDecoder()
    var buffer = ByteBuffer()

    init(port: Int, receiveBufferBytes: Int32? = nil) throws {
        socket = systemSocket()
        if var size = receiveBufferBytes {
            setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        // Generous: on a cold debug build with both cores busy an answer can take seconds; a missing one still
        // fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw TestConnectionError(description: "cannot connect to the test server") }
    }

    deinit { systemClose(socket) }

    func send(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = systemSend(socket, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// The next `count` frames (inflated), or fewer if the server closes or goes quiet for 20 s.
    func receive(_ count: Int) throws -> [Frame] {
        var frames: [Frame] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while frames.count < count {
            if let frame = try decoder.decode(buffer: &buffer) {
                frames.append(frame)
                continue
            }
            let read = recv(socket, &chunk, chunk.count, 0)
            if read <= 0 { break }
            buffer.writeBytes(chunk[0..<read])
        }
        return frames
    }

    /// Every frame until the server closes the connection (or goes quiet for 20 s), and whether it closed.
    func receiveUntilClosed() throws -> (frames: [Frame], closed: Bool) {
        var frames: [Frame] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let frame = try decoder.decode(buffer: &buffer) {
                frames.append(frame)
                continue
            }
            let read = recv(socket, &chunk, chunk.count, 0)
            if read == 0 { return (frames, true) }
            if read < 0 { return (frames, false) }
            buffer.writeBytes(chunk[0..<read])
        }
    }
}

/// Articles and a loopback server for the server tests.
enum LoopbackServer {
    /// A server on 127.0.0.1, port 0, holding `articles` synthetic articles.
    static func start(
        articles: Int, configure: (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> TestServer {
        try await TestServer.start(
            configure: configure, prepare: { engine in _ = try engine.put((0..<articles).map(article)) })
    }

    /// Article `n`: id `load-n`, dated an hour apart, a body long enough that its record compresses well.
    static func article(_ n: Int) -> Article {
        let body = String(repeating: "服务器测试正文第\(n)段，讨论能源合作、电网建设与区域协作。", count: 24)
        return Article(
            id: ArticleID("load-\(n)"), title: "服务器测试 \(n) 能源合作",
            publishedAt: PublishedTime(secondsSinceEpoch: 1_710_000_000 + Int64(n) * 3600, utcOffsetSeconds: 28_800),
            source: "测试来源", paragraphs: [body, "Server test \(n): energy."], language: "zh")
    }
}

extension Frame {
    /// The ERROR this frame carries, if it is one.
    var error: ProtocolError? {
        guard opcode == .error, case .error(let error)? = try? Response(frame: self) else { return nil }
        return error
    }
}
