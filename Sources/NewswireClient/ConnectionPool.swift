import Logging
import NIOConcurrencyHelpers
import NIOCore

/// A fixed number of connection slots used round-robin, over one or more endpoints.
///
/// A slot connects lazily, to the endpoint that is not out and has failed least (ties: in order of preference,
/// starting from the slot's own). An endpoint is out after a failed connect for a backoff doubling from 50 ms to 2 s, and after a
/// connection to it dropped without GOAWAY for at least 1 s (its requests are then retried on another node), so a node that is down is not hammered and one that comes back is found again. With every
/// endpoint out, the slot waits for the earliest to come back (within the connect timeout).
final class ConnectionPool: Sendable {
    private enum Slot {
        case empty
        case connecting(EventLoopFuture<ClientConnection>)
        case ready(ClientConnection, endpoint: Int)
    }

    private struct Health {
        var failures = 0
        var outUntil: ContinuousClock.Instant?
    }

    private struct State {
        var slots: [Slot]
        var health: [Health]
        var next = 0
        var shutDown = false
    }

    private let configuration: NewswireClient.Configuration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state: NIOLockedValueBox<State>

    init(configuration: NewswireClient.Configuration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        let count = max(1, configuration.connections)
        self.state = NIOLockedValueBox(
            State(
                slots: Array(repeating: .empty, count: count),
                health: Array(repeating: Health(), count: configuration.endpoints.count)))
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
                switch state.slots[index] {
                case .ready(let connection, _) where connection.isUsable:
                    return .use(connection)
                case .ready(let connection, let endpoint):
                    // Dropped without GOAWAY: the node failed. Its requests are being retried: send them elsewhere.
                    if !connection.wentAway { Self.markOut(endpoint, in: &state, atLeast: .seconds(1)) }
                    state.slots[index] = .empty
                case .connecting(let future):
                    return .await(future)
                case .empty:
                    break
                }
                let now = ContinuousClock.now
                let count = state.health.count
                let order = (0..<count).map { (index + $0) % count }
                // Among the endpoints that are in, the one that failed least (then the preferred one).
                let available = order.filter { (state.health[$0].outUntil ?? now) <= now }
                let fewest = available.map { state.health[$0].failures }.min()
                guard let endpoint = available.first(where: { state.health[$0].failures == fewest }) else {
                    let soonest = order.compactMap { state.health[$0].outUntil }.min() ?? now
                    return .wait(soonest - now)
                }
                let future = startConnect(slot: index, endpoint: endpoint)
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
                    let names = configuration.endpoints.map(\.description).joined(separator: ", ")
                    throw NewswireClientError(
                        code: .connectionFailed,
                        message: "cannot reach \(names) (still backing off after failed connects); is newswired "
                            + "running?", isRetryable: true)
                }
                try await Task.sleep(for: delay)
            }
        }
    }

    private static func markOut(_ endpoint: Int, in state: inout State, atLeast minimum: Duration = .zero) {
        let failures = state.health[endpoint].failures
        state.health[endpoint].failures = failures + 1
        state.health[endpoint].outUntil = .now + max(minimum, .milliseconds(min(2000, 50 << min(failures, 6))))
    }

    private func startConnect(slot: Int, endpoint: Int) -> EventLoopFuture<ClientConnection> {
        let eventLoop = eventLoopGroup.next()
        let promise = eventLoop.makePromise(of: ClientConnection.self)
        let configuration = configuration
        let address = configuration.endpoints[endpoint]
        promise.completeWithTask {
            try await ClientConnection.connect(configuration: configuration, endpoint: address, eventLoop: eventLoop)
        }
        let logger = logger
        promise.futureResult.whenComplete { result in
            let staleConnection: ClientConnection? = self.state.withLockedValue { state in
                switch result {
                case .success(let connection):
                    if state.shutDown { return connection }
                    state.slots[slot] = .ready(connection, endpoint: endpoint)
                    // Back in; its failure count stays (a node that accepts and then drops stays out longer).
                    state.health[endpoint].outUntil = nil
                case .failure:
                    state.slots[slot] = .empty
                    Self.markOut(endpoint, in: &state)
                }
                return nil
            }
            switch result {
            case .success:
                logger.debug("connected", metadata: ["newswire_endpoint": "\(address)"])
            case .failure(let error):
                logger.notice(
                    "endpoint out after a failed connect",
                    metadata: ["newswire_endpoint": "\(address)", "newswire_error": "\(error)"])
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
                if case .ready(let connection, _) = slot { open.append(connection) }
            }
            state.slots = state.slots.map { _ in .empty }
            return open
        }
        for connection in connections { await connection.close() }
    }
}
