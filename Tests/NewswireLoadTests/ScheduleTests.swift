import Histogram
import NewswireModel
import Testing

@testable import NewswireLoad

@Suite("Open-loop schedule and coordinated omission")
struct ScheduleTests {
    @Test("the rate is spread evenly over connections, not sent in bursts")
    func evenSpread() {
        let start: UInt64 = 1_000_000_000
        let schedules = (0..<4).map { OpenLoopSchedule(start: start, rate: 1000, connections: 4, index: $0) }
        // Connection i's k-th request is due at start + (i + 4k) ms: merged, one request every millisecond.
        #expect(schedules[0].time(of: 0) == start)
        #expect(schedules[1].time(of: 0) == start + 1_000_000)
        #expect(schedules[3].time(of: 0) == start + 3_000_000)
        #expect(schedules[0].time(of: 1) == start + 4_000_000)
        let merged = schedules.flatMap { schedule in (0..<25).map { schedule.time(of: $0) } }.sorted()
        #expect(merged == (0..<100).map { start + UInt64($0) * 1_000_000 })
    }

    @Test("the pacer hands out due requests only, catches up after a delay, and stops at the end")
    func pacer() {
        var pacer = OpenLoopPacer(schedule: OpenLoopSchedule(start: 0, rate: 1000, connections: 1, index: 0), end: 10_000_000)
        #expect(pacer.takeDue(now: 0) == 0)
        #expect(pacer.takeDue(now: 999_999) == nil)
        // 5 ms late: the four requests that fell due meanwhile come out at once, keeping their scheduled times.
        var late: [UInt64] = []
        while let due = pacer.takeDue(now: 5_000_000) { late.append(due) }
        #expect(late == [1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000])
        while pacer.takeDue(now: .max) != nil {}
        #expect(pacer.nextIndex == 10)
        #expect(pacer.nextDue == nil)
    }

    /// Drives one connection with pipeline 1 against a simulated server on a fake clock: 1000 requests/s for
    /// 5 s, 100 µs per answer, except that the answer to the request scheduled at 2 s takes a full second.
    func simulateStall() -> LatencyRecorder {
        let millisecond: UInt64 = 1_000_000
        var pacer = OpenLoopPacer(
            schedule: OpenLoopSchedule(start: 0, rate: 1000, connections: 1, index: 0), end: 5000 * millisecond)
        var recorder = LatencyRecorder(serviceTime: true)
        var now: UInt64 = 0
        while let next = pacer.nextDue {
            now = max(now, next)
            let scheduled = pacer.takeDue(now: now)!
            let service = scheduled == 2000 * millisecond ? 1000 * millisecond : millisecond / 10
            recorder.record(.get, scheduled: scheduled, sent: now, completed: now + service)
            now += service
        }
        return recorder
    }

    @Test("latency counts the wait of requests held back by a stall; service time does not")
    func coordinatedOmission() {
        var recorder = simulateStall()
        recorder.seal()
        let latency = recorder.latency[.get]!
        let service = recorder.serviceTime!
        #expect(latency.totalCount == 5000)
        #expect(service.totalCount == 5000)
        // Service time: one slow answer; everything else 100 µs.
        #expect(service.count(within: 100_000_000...UInt64.max) == 1)
        #expect(service.valueAtPercentile(99.9) < 101_000)
        // Latency from the scheduled time: the ~1000 requests due during the stall wait for it, then the backlog
        // drains at 0.9 ms per request, so about 1110 requests see more than 100 µs.
        let delayed = latency.count(within: 1_000_000...UInt64.max)
        #expect((1090...1115).contains(delayed), "\(delayed) delayed")
        #expect(latency.valueAtPercentile(99) > 900_000_000)
        #expect(latency.max >= 999_000_000)
        #expect(latency.valueAtPercentile(50) < 101_000)
        // Measured from the send time instead, the stall looks like a single outlier: the error CO causes.
        #expect(service.valueAtPercentile(99) < 101_000)
    }
}

@Suite("Histogram merge")
struct HistogramMergeTests {
    @Test("merging per-connection recorders equals recording everything in one")
    func mergeEqualsSingle() {
        var generator = SplitMix64(seed: 11)
        var single = LatencyRecorder(serviceTime: true)
        var parts = (0..<8).map { _ in LatencyRecorder(serviceTime: true) }
        let operations: [LoadOperation] = [.get, .get, .get, .search, .related]
        for index in 0..<50_000 {
            let operation = operations[index % operations.count]
            let sent = UInt64(index) * 1000
            let scheduled = sent - min(sent, generator.next() % 5000)
            let completed = sent + 10_000 + generator.next() % 10_000_000
            single.record(operation, scheduled: scheduled, sent: sent, completed: completed)
            parts[index % 8].record(operation, scheduled: scheduled, sent: sent, completed: completed)
            parts[index % 8].bytesSent += 30
        }
        parts[2].recordError("NOT_FOUND", count: 3)
        parts[5].recordError("NOT_FOUND")
        parts[5].recordError("NO_RESPONSE", count: 2)
        var merged = LatencyRecorder(serviceTime: true)
        for part in parts { merged.merge(part) }
        single.seal()
        #expect(merged.latency == single.latency)
        #expect(merged.serviceTime == single.serviceTime)
        #expect(merged.completed == [.get: 30_000, .search: 10_000, .related: 10_000])
        #expect(merged.errors == ["NOT_FOUND": 4, "NO_RESPONSE": 2])
        #expect(merged.bytesSent == 50_000 * 30)
        #expect(merged.firstSend == 0)
        #expect(merged.lastCompletion == single.lastCompletion)
        let combined = merged.combinedLatency()
        #expect(combined.totalCount == 50_000)
        let summary = LatencySummary(combined)
        #expect(summary.count == 50_000)
        #expect(summary.p50 <= summary.p90 && summary.p90 <= summary.p99 && summary.p99 <= summary.p999)
        #expect(summary.p999 <= summary.max)
    }

    @Test("values above an hour are clamped and counted, not lost")
    func clamping() {
        var recorder = LatencyRecorder(serviceTime: false)
        recorder.record(.ping, scheduled: 0, sent: 0, completed: LatencyRecorder.highestNanos * 2)
        recorder.seal()
        #expect(recorder.clampedValues == 1)
        #expect(recorder.latency[.ping]!.totalCount == 1)
        #expect(recorder.serviceTime == nil)
    }
}
