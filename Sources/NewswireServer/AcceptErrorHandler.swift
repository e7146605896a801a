#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore

/// On the listening channel: when `accept` fails for want of resources (the open-file limit above all), stops
/// accepting for ``pause`` and says why, at most once per ``reportInterval``.
///
/// Without it the listener spins: NIO keeps the listening socket registered for reads while an accept it asked
/// for has not succeeded, the full backlog keeps it readable, and every `accept` fails at once (a whole core
/// measured, and no log line). NIO's `AcceptBackoffHandler` only delays the next read it is asked for, which is
/// never asked for while that one is pending; turning auto-read off takes the socket out of the poll set until
/// auto-read comes back on. Connections meanwhile wait in the listen backlog.
///
/// Public for the process's other listeners (`newswired`'s metrics endpoint), which share its file descriptors.
public final class AcceptErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = Channel
    public typealias InboundOut = Channel

    static let pause = TimeAmount.seconds(1)
    static let reportInterval = TimeAmount.seconds(10)
    private let logger: Logger
    private var nextReport = NIODeadline.uptimeNanoseconds(0)
    private var unreported = 0
    private var resume: Scheduled<Void>?
    /// Turns the listener's auto-read off and on (a test records the calls instead: an `EmbeddedChannel` has no
    /// auto-read to turn).
    private let setAutoRead: (any Channel, Bool) -> Void

    /// A handler for one listening channel; `logger` gets its reports.
    public convenience init(logger: Logger) {
        self.init(logger: logger) { try? $0.syncOptions?.setOption(.autoRead, value: $1) }
    }

    init(logger: Logger, setAutoRead: @escaping (any Channel, Bool) -> Void) {
        self.logger = logger
        self.setAutoRead = setAutoRead
    }

    /// Errors `accept` recovers from once resources free up (as NIO's listener classifies them).
    static func isResourceShortage(_ error: any Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let shortage = Self.isResourceShortage(error)
        report(error, shortage: shortage, now: context.eventLoop.now)
        if shortage, resume == nil {
            let channel = context.channel
            setAutoRead(channel, false)
            resume = context.eventLoop.assumeIsolated().scheduleTask(in: Self.pause) { [self] in
                resume = nil
                setAutoRead(channel, true)
            }
        }
        context.fireErrorCaught(error)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
    }

    private func report(_ error: any Error, shortage: Bool, now: NIODeadline) {
        guard now >= nextReport else {
            unreported += 1
            return
        }
        nextReport = now + Self.reportInterval
        let repeats = unreported > 0 ? " (\(unreported) more since the last report)" : ""
        unreported = 0
        if shortage {
            logger.error(
                "cannot accept connections: out of file descriptors or memory\(repeats); accepting again every second, new connections wait meanwhile; raise the open-file limit (ulimit -n) or lower --max-connections",
                metadata: ["newswire_error": "\(error)"])
        } else {
            logger.error("accepting a connection failed\(repeats)", metadata: ["newswire_error": "\(error)"])
        }
    }
}
