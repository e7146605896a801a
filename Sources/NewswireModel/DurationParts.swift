/// `Duration` in the units the package's timeouts, statistics and logs use. `package`, not `public`: apps that
/// embed the client must not see these names on a standard library type.
extension Duration {
    /// Whole nanoseconds, saturating at `Int64.max` for durations beyond about 292 years.
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return sumOverflow ? (seconds < 0 ? .min : .max) : sum
    }

    /// Whole microseconds.
    package var microseconds: Int { Int(nanoseconds / 1000) }

    /// Seconds as a `Double`.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
