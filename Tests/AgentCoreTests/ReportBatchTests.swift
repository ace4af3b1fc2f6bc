import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

/// `reportBatchInterval`: step reports held for a window and sent as one `steps` message per attempt, in the
/// order the agent learned them, never after anything that came later.
@Suite struct ReportBatchTests {
    func harness(_ window: Duration? = .milliseconds(100)) -> Harness {
        var c = Harness.configuration(heartbeat: .seconds(10))
        c.reportBatchInterval = window
        return Harness(c)
    }

    @Test func stepsOfAWindowLeaveTogetherWithEachRanksNewest() {
        let h = harness()
        for r in 0..<3 { h.launch(r, pid: Int32(100 + r)) }
        #expect(h.at(1000, .rankReport(rankRef(2), datagram: bytes("step 7"))).messages.isEmpty)
        #expect(h.core.nextWake == .milliseconds(1100))
        #expect(h.at(1020, .rankReport(rankRef(0), datagram: bytes("step 7"))).messages.isEmpty)
        #expect(h.at(1050, .rankReport(rankRef(2), datagram: bytes("step 8"))).messages.isEmpty)
        #expect(h.at(1099, .tick).messages.isEmpty)
        #expect(h.at(1100, .tick).messages == [.steps(StepBatch(job: "job", attempt: 1, ranks: [2, 0], steps: [8, 7]))])
        #expect(h.core.stepFlushAt == nil)
        #expect(h.at(1200, .tick).messages.isEmpty, "nothing held, nothing sent")
    }

    @Test func anythingElseTakesTheHeldStepsWithItFirst() {
        let h = harness()
        h.launch(0, pid: 100)
        h.launch(1, pid: 101)
        h.at(1000, .rankReport(rankRef(0), datagram: bytes("step 4")))
        let metric = h.at(1010, .rankReport(rankRef(1), datagram: bytes("step 4\ncheckpoint 4"))).messages
        #expect(metric == [.steps(StepBatch(job: "job", attempt: 1, ranks: [0, 1], steps: [4, 4])),
                           .checkpoint(CheckpointReport(rank: rankRef(1), step: 4))])
        h.at(1020, .rankReport(rankRef(0), datagram: bytes("step 5")))
        let exit = h.at(1030, .rankExited(rankRef(0), .exited(0), finalReports: [bytes("step 6")])).messages
        #expect(exit == [.steps(StepBatch(job: "job", attempt: 1, ranks: [0], steps: [6])),
                         .exited(RankExited(rank: rankRef(0), status: 0))])
    }

    @Test func ranksOfTwoAttemptsGoInTwoBatches() {
        let h = harness()
        h.at(0, controller: .launch(LaunchRequest(rank: rankRef(0, attempt: 1), argv: ["x"], logDir: "/l")))
        h.at(0, .spawned(rankRef(0, attempt: 1), pid: 100))
        h.at(0, controller: .launch(LaunchRequest(rank: rankRef(0, attempt: 2), argv: ["x"], logDir: "/l")))
        h.at(0, .spawned(rankRef(0, attempt: 2), pid: 101))
        h.at(10, .rankReport(rankRef(0, attempt: 2), datagram: bytes("step 1")))
        h.at(20, .rankReport(rankRef(0, attempt: 1), datagram: bytes("step 9")))
        #expect(h.at(110, .tick).messages == [.steps(StepBatch(job: "job", attempt: 2, ranks: [0], steps: [1])),
                                              .steps(StepBatch(job: "job", attempt: 1, ranks: [0], steps: [9]))])
    }

    @Test func heldStepsLeaveBeforeTheAgentExits() {
        let h = harness()
        h.launch(0, pid: 100)
        h.at(1000, .rankReport(rankRef(0), datagram: bytes("step 3")))
        h.at(1001, .controllerClosed(reason: "eof"))
        let actions = h.at(1002, .rankExited(rankRef(0), .signaled(SIGTERM), finalReports: []))
        #expect(actions.messages.first == .steps(StepBatch(job: "job", attempt: 1, ranks: [0], steps: [3])))
        #expect(actions.exitAction != nil)
    }

    @Test func withoutAWindowEachStepLeavesAtOnceAsProgress() {
        let h = harness(nil)
        h.launch(0, pid: 100)
        #expect(h.at(1000, .rankReport(rankRef(0), datagram: bytes("step 3"))).messages == [.progress(RankProgress(rank: rankRef(0), step: 3))])
        #expect(h.core.stepFlushAt == nil)
    }
}
