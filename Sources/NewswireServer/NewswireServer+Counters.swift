import NewswireProtocol

extension NewswireServer {
    /// The server's own integer STATS counters (connections, bytes, requests by opcode and outcome, record cache, queued answer bytes),
    /// by their STATS names, for exporters that poll (`newswired --metrics`). Engine figures come from the engine.
    public func counters() -> [String: Int64] {
        var values: [String: Int64] = [:]
        for entry in context.statistics.entries() + context.recordCache.statEntries() {
            if case .integer(let value) = entry.value { values[entry.name] = value }
        }
        let (queued, peak) = context.responseBudget.usage
        values["responses.queued_bytes"] = Int64(queued)
        values["responses.queued_bytes_peak"] = Int64(peak)
        values["requests.in_flight"] = Int64(context.requestsInFlight)
        return values
    }
}
