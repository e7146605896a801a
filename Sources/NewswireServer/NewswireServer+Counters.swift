import NewswireProtocol

extension NewswireServer {
    /// The server's own integer STATS counters (connections, bytes, requests by opcode and outcome, record cache),
    /// by their STATS names, for exporters that poll (`newswired --metrics`). Engine figures come from the engine.
    public func counters() -> [String: Int64] {
        var values: [String: Int64] = [:]
        for entry in context.statistics.entries() + context.recordCache.statEntries() {
            if case .integer(let value) = entry.value { values[entry.name] = value }
        }
        return values
    }
}
