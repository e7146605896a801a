import Foundation

/// Standard output and error for the CLI, written with write(2).
///
/// Foundation's `FileHandle.write(_:)` traps on EPIPE (`try!` inside), and NIO ignores SIGPIPE for the whole
/// process, so `newswire search … | head -1` used to crash once `head` left. A reader that goes away is normal in a
/// pipeline: the CLI ends as a Unix filter does, killed by SIGPIPE (exit status 141 in a shell), quietly.
enum Output {
    /// Set by a command that ends by itself when stdout's reader leaves (`watch`, which then says where to resume):
    /// an EPIPE on stdout calls it instead of ending the process at once.
    private final class Handler: @unchecked Sendable {
        private let lock = NSLock()
        private var handler: (@Sendable () -> Void)?
        var value: (@Sendable () -> Void)? {
            get { lock.withLock { handler } }
            set { lock.withLock { handler = newValue } }
        }
    }

    private static let stdoutReaderGone = Handler()

    /// Calls `handler` (from the writing thread) when a write to stdout finds its reader gone; the text is dropped.
    static func onStdoutReaderGone(_ handler: @escaping @Sendable () -> Void) {
        stdoutReaderGone.value = handler
    }

    static func line(_ text: String) { write(text + "\n", to: STDOUT_FILENO) }

    static func errorLine(_ text: String) { write(text + "\n", to: STDERR_FILENO) }

    /// Writes `text` without a newline (progress lines on stderr).
    static func raw(_ text: String, to descriptor: Int32) { write(text, to: descriptor) }

    private static func write(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR || errno == EAGAIN {
                    continue
                } else {
                    if errno == EPIPE {
                        if descriptor == STDOUT_FILENO, let handler = stdoutReaderGone.value {
                            handler()
                            return
                        }
                        readerWentAway()
                    }
                    return  // stderr closed or full disk: nothing sensible left to report it to
                }
            }
        }
    }

    /// Ends the process the way a filter ends when its reader leaves: by the default action of SIGPIPE.
    static func readerWentAway() -> Never {
        signal(SIGPIPE, SIG_DFL)
        raise(SIGPIPE)
        exit(141)
    }
}

func printError(_ line: String) { Output.errorLine(line) }

func printOut(_ line: String) { Output.line(line) }
