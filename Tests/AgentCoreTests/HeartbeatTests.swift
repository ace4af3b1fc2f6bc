import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

@Suite struct HeartbeatTests {
    @Test func heartbeatsFollowTheIntervalWithRisingSequenceNumbers() {
        let h = Harness(Harness.configuration(heartbeat: .milliseconds(200)))
        #expect(h.core.nextWake == .milliseconds(200))
        #expect(h.at(199, .tick).heartbeats.isEmpty)
        #expect(h.at(200, .tick).heartbeats.map(\.sequence) == [1])
        // A late tick sends one heartbeat, and the next is due one interval after it (no burst to catch up).
        #expect(h.at(750, .tick).heartbeats.map(\.sequence) == [2])
        #expect(h.core.nextWake == .milliseconds(950))
        #expect(h.at(949, .tick).heartbeats.isEmpty)
        #expect(h.at(950, .tick).heartbeats.map(\.sequence) == [3])
    }

    @Test func aPingIsAnsweredAtOnceAndSharesTheSequence() {
        let h = Harness()
        let pong = h.at(10, controller: .ping(Ping(id: 77)))
        #expect(pong == [.sendHeartbeat(HeartbeatPlan(sequence: 1, ranks: [], malformedReports: 0, ping: 77))])
        #expect(h.at(1000, .tick).heartbeats == [HeartbeatPlan(sequence: 2, ranks: [], malformedReports: 0, ping: nil)])
    }

    @Test func heartbeatsListTheLiveRanksInRankOrder() {
        let h = Harness()
        h.launch(2, pid: 102)
        h.launch(0, pid: 100)
        h.launch(1, pid: 101)
        h.at(500, .rankExited(rankRef(1), .exited(0), finalReports: []))
        let plan = h.at(1000, .tick).heartbeats
        #expect(plan.map(\.ranks) == [[.init(rank: rankRef(0), pid: 100), .init(rank: rankRef(2), pid: 102)]])
    }

    @Test func thePlanBecomesTheWireHeartbeatWithTheShellsMeasurements() {
        let plan = HeartbeatPlan(sequence: 4, ranks: [.init(rank: rankRef(0), pid: 100), .init(rank: rankRef(1), pid: 101)], malformedReports: 2, ping: 3)
        let load = HostLoad(cpuBusy: 0.5, loadAverage1m: 1, memoryUsedBytes: 10, memoryTotalBytes: 20)
        let hb = plan.heartbeat(load: load, rssBytes: [100: 4096], agentRSSBytes: 999)
        #expect(
            hb == Heartbeat(
                sequence: 4, load: load,
                ranks: [RankUsage(rank: rankRef(0), pid: 100, rssBytes: 4096), RankUsage(rank: rankRef(1), pid: 101, rssBytes: 0)],
                agentRSSBytes: 999, malformedReports: 2, ping: 3))
    }

    @Test func beforeBeginNothingIsScheduled() {
        let core = AgentCore(configuration: AgentConfiguration())
        #expect(core.nextWake == nil)
    }
}
