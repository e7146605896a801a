import NIOConcurrencyHelpers
import NIOCore

/// A fixed number of connection slots used round-robin. A slot connects lazily; after a failed connect it waits
/// a backoff (doubling from 50 ms to 2 s) before trying again, so a server that is down is not hammered and a
/// server that comes back is found again.
final class ConnectionPool: Sendable {
    private enum Slot {
        case empty(failures: Int, retryAt: ContinuousClock.Instant?)
        case connecting(EventLoopFuture<ClientConnection>)
        case ready(ClientConnection)
    }

    private struct State {
        var slots: [Slot]
        var next = 0
        var shutDown = false
    }

    private let configuration: NewswireClient.Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let state: NIOLockedValueBox<State>

    init(configuration: NewswireClient.Configuration, eventLoopGroup: any EventLoopGroup) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        let count = max(1, configuration.connections)
        self.state = NIOLockedValueBox(State(slots: Array(repeating: .empty(failures: 0, retryAt: nil), count: count)))
    }

    /// A usable connection, connecting (after any backoff that fits in the connect timeout) when needed.
    func connection() async throws -> ClientConnection {
        enum Step {
            case use(ClientConnection)
            case await(EventLoopFuture<ClientConnection>)
            case wait(Duration)
        }
        let deadline = ContinuousClock.now + configuration.connectTimeout
        while true {
            let step: Step = try state.withLockedValue { state in
                guard !state.shutDown else {
                    throw NewswireClientError(code: .clientShutDown, message: "the client was shut down")
                }
                let index = state.next % state.slots.count
                state.next &+= 1
                var failures = 0
                switch state.slots[index] {
                case .ready(let connection) where connection.isUsable:
                    return .use(connection)
                case .ready:
                    failures = 0
                case .connecting(let future):
                    return .await(future)
                case .empty(let previousFailures, let retryAt):
                    failures = previousFailures
                    if let retryAt, retryAt > .now { return .wait(retryAt - .now) }
                }
                let future = startConnect(slot: index, failures: failures)
                state.slots[index] = .connecting(future)
                return .await(future)
            }
            switch step {
            case .use(let connection):
                return connection
            case .await(let future):
                return try await future.get()
            case .wait(let delay):
                guard ContinuousClock.now + delay <= deadline else {
                    throw NewswireClientError(
                        code: .connectionFailed,
                        message: "cannot reach \(configuration.host):\(configuration.port) (still backing off after "
                            + "failed connects); is newswired running?", isRetryable: true)
                }
                try await Task.sleep(for: delay)
            }
        }
    }

    private func startConnect(slot: Int, failures: Int) -> EventLoopFuture<ClientConnection> {
        let eventLoop = eventLoopGroup.next()
        let promise = eventLoop.makePromise(of: ClientConnection.self)
        let configuration = configuration
        promise.completeWithTask {
            try await ClientConnection.connect(configuration: configuration, eventLoop: eventLoop)
        }
        promise.futureResult.whenComplete { result in
            let staleConnection: ClientConnection? = self.state.withLockedValue { state in
                switch result {
                case .success(let connection):
                    if state.shutDown { return connection }
                    state.slots[slot] = .ready(connection)
                case .failure:
                    let backoffMillis = min(2000, 50 << min(failures, 6))
                    state.slots[slot] = .empty(
                        failures: failures + 1, retryAt: .now + .milliseconds(backoffMillis))
                }
                return nil
            }
            if let staleConnection { staleConnection.channel.close(promise: nil) }
        }
        return promise.futureResult
    }

    /// Closes every connection; later calls fail with ``NewswireClientError/Code/clientShutDown``.
    func shutdown() async {
        let connections: [ClientConnection] = state.withLockedValue { state in
            state.shutDown = true
            var open: [ClientConnection] = []
            for slot in state.slots {
                if case .ready(let connection) = slot { open.append(connection) }
            }
            state.slots = state.slots.map { _ in .empty(failures: 0, retryAt: nil) }
            return open
        }
        for connection in connections { await connection.close() }
    }
}
