import Logging
import NIOConcurrencyHelpers

/// Captures every log line (level, message and metadata, rendered) at trace level, for tests that assert what a
/// component says: `Logger(label: "x") { recorder.handler(label: $0) }`.
public final class LogRecorder: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])

    public init() {}

    /// The lines so far, oldest first.
    public var all: [String] { lines.withLockedValue { $0 } }

    /// A handler writing into this recorder.
    public func handler(label: String) -> any LogHandler { Handler(recorder: self) }

    fileprivate func record(_ line: String) { lines.withLockedValue { $0.append(line) } }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let extra = event.metadata { all.merge(extra) { _, new in new } }
            recorder.record("\(event.level) \(event.message) \(all)")
        }
    }
}
