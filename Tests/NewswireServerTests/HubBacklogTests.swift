import Testing

@testable import NewswireServer

/// The watch hub's commit pacing rule, on constructed instants (no clock is waited on).
@Suite struct HubBacklogTests {
    @Test func theLatestBatchAloneNeverHoldsACommit() {
        var backlog = HubBacklog()
        let start = ContinuousClock.now
        backlog.handed(upTo: 10, at: start)
        #expect(!backlog.mustHoldCommits(now: start + .seconds(5)))
    }

    @Test func aBatchBehindTheLatestHoldsCommitsOnlyOnceItWaitedPastTheBudget() {
        var backlog = HubBacklog()
        let start = ContinuousClock.now
        backlog.handed(upTo: 10, at: start)
        backlog.handed(upTo: 20, at: start + .milliseconds(5))
        #expect(!backlog.mustHoldCommits(now: start + HubBacklog.budget))
        #expect(backlog.mustHoldCommits(now: start + HubBacklog.budget + .milliseconds(1)))
        // Distributing part of the way lets go of the batches it covers only.
        backlog.distributed(upTo: 15)
        #expect(backlog.count == 1)
        #expect(!backlog.mustHoldCommits(now: start + .seconds(1)))
        backlog.distributed(upTo: 20)
        #expect(backlog.count == 0)
    }

    @Test func tooManyWaitingBatchesHoldCommitsHoweverYoung() {
        var backlog = HubBacklog()
        let start = ContinuousClock.now
        for position in 1...HubBacklog.maxBatches { backlog.handed(upTo: UInt64(position), at: start) }
        #expect(!backlog.mustHoldCommits(now: start))
        backlog.handed(upTo: 100, at: start)
        #expect(backlog.mustHoldCommits(now: start))
        backlog.distributed(upTo: 100)
        #expect(backlog.count == 0)
        #expect(!backlog.mustHoldCommits(now: start + .seconds(1)))
    }
}
