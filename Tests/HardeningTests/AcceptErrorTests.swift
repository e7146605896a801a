import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NewswireTestSupport
import Testing

@testable import NewswireServer

#if canImport(Glibc)
import Glibc
#endif

/// A listener out of file descriptors: it must stop accepting for a while (not spin on `accept`), say why without
/// flooding the log, and accept again.
@Suite("Listener out of file descriptors")
struct AcceptErrorTests {
    @Test("EMFILE turns auto-read off once, back on a second later; reports at most once per 10 s with the count")
    func pausesAndReports() throws {
        let recorder = LogRecorder()
        let logger = Logger(label: "accept-test") { recorder.handler(label: $0) }
        let switches = NIOLockedValueBox<[Bool]>([])
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        try channel.pipeline.syncOperations.addHandler(
            AcceptErrorHandler(logger: logger) { _, on in switches.withLockedValue { $0.append(on) } })
        let emfile = IOError(errnoCode: EMFILE, reason: "accept4")

        channel.pipeline.fireErrorCaught(emfile)
        channel.pipeline.fireErrorCaught(emfile)  // while paused: no second pause, no second line
        #expect(switches.withLockedValue { $0 } == [false])
        loop.advanceTime(by: .milliseconds(999))
        #expect(switches.withLockedValue { $0 } == [false])
        loop.advanceTime(by: .milliseconds(1))
        #expect(switches.withLockedValue { $0 } == [false, true])
        let lines = recorder.all
        #expect(lines.count == 1 && lines[0].contains("cannot accept connections"), "\(lines)")

        // Still short a second later: paused again, still one line until 10 s have passed since it.
        channel.pipeline.fireErrorCaught(emfile)
        #expect(switches.withLockedValue { $0 } == [false, true, false])
        #expect(recorder.all.count == 1)
        loop.advanceTime(by: .seconds(10))
        channel.pipeline.fireErrorCaught(IOError(errnoCode: ENFILE, reason: "accept4"))
        #expect(recorder.all.count == 2 && recorder.all[1].contains("(2 more since the last report)"), "\(recorder.all)")

        // Another failure is reported, but does not pause the listener.
        loop.advanceTime(by: .seconds(10))
        let before = switches.withLockedValue { $0 }
        channel.pipeline.fireErrorCaught(IOError(errnoCode: ECONNABORTED, reason: "accept4"))
        #expect(switches.withLockedValue { $0 } == before)
        #expect(recorder.all.last?.contains("accepting a connection failed") == true)
        _ = try? channel.finish()
    }
}
