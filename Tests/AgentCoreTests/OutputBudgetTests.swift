import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

@Suite struct OutputBudgetTests {
    @Test func outputLeavesInBatchesOnTheFlushTimer() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        #expect(h.at(10, .rankOutput(ref, .stdout, bytes("a\nb\npart"))).isEmpty)
        #expect(h.core.nextWake == .milliseconds(110))
        h.at(50, .rankOutput(ref, .stdout, bytes("ial\n")))
        #expect(h.at(109, .tick).logBatches.isEmpty)
        #expect(h.at(110, .tick).logBatches == [LogBatch(rank: ref, stream: .stdout, lines: ["a", "b", "partial"])])
        #expect(h.core.logFlushAt == nil)
    }

    @Test func anUnterminatedLineWaitsWithoutWakingTheAgent() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(0, .rankOutput(ref, .stderr, bytes("progress 10%")))
        #expect(h.at(100, .tick).logBatches.isEmpty)
        #expect(h.core.logFlushAt == nil)
        h.at(150, .rankOutput(ref, .stderr, bytes(" 20%\n")))
        #expect(h.at(250, .tick).logBatches == [LogBatch(rank: ref, stream: .stderr, lines: ["progress 10% 20%"])])
    }

    @Test func outputPastTheBatcherIsDroppedAndCounted() {
        let h = Harness(Harness.configuration(maxPendingLogBytes: 1000))
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        let line = Array(repeating: UInt8(ascii: "x"), count: 99) + [10]  // 100 bytes
        for i in 0..<25 { h.at(i, .rankOutput(ref, .stdout, line)) }  // 2,500 bytes: 1,000 kept
        let first = h.at(100, .tick).logBatches
        #expect(first.count == 1)
        #expect(first[0].lines.count == 10 && first[0].droppedBytes == 1500)
        // The count starts again with the next batch.
        h.at(150, .rankOutput(ref, .stdout, line))
        #expect(h.at(250, .tick).logBatches.map(\.droppedBytes) == [0])
    }

    @Test func aSlowControllerHoldsBatchesBackWhileTheirBatchersDrop() {
        let h = Harness(Harness.configuration(maxPendingLogBytes: 1000))
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(0, .outputBacklog(bytes: 1 << 20))  // the soft limit: batches wait
        h.at(1, .rankOutput(ref, .stdout, Array(repeating: UInt8(ascii: "y"), count: 999) + [10]))
        #expect(h.at(101, .tick).logBatches.isEmpty)
        #expect(h.core.logFlushAt == .milliseconds(201))  // tried again one interval later
        h.at(150, .rankOutput(ref, .stdout, bytes("more\n")))  // no room: dropped and counted
        h.at(160, .outputBacklog(bytes: 1000))
        let batches = h.at(201, .tick).logBatches
        #expect(batches.count == 1 && batches[0].lines.count == 1 && batches[0].droppedBytes == 5)
    }

    @Test func aFinalBatchDoesNotWaitForASlowController() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(0, .outputBacklog(bytes: 2 << 20))
        h.at(1, .rankOutput(ref, .stdout, bytes("last words\n")))
        #expect(h.at(2, .rankExited(ref, .exited(1), finalReports: [])).logBatches.map(\.lines) == [["last words"]])
    }

    @Test func pastTheHardLimitDroppableMessagesGoButTheRestStays() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(0, .rankOutput(ref, .stdout, bytes("tail\n")))
        h.at(1, .outputBacklog(bytes: (8 << 20) + 1))
        let reports = h.at(2, .rankReport(ref, datagram: bytes("step 5\nmetric loss 1.0\ncheckpoint 5\nsection save 60")))
        #expect(
            reports.messages == [
                .checkpoint(CheckpointReport(rank: ref, step: 5)), .section(SectionReport(rank: ref, name: "save", seconds: 60)),
            ])
        // The periodic heartbeat is dropped; a ping is answered anyway; the rank's exit always goes out.
        #expect(h.at(1000, .tick).heartbeats.isEmpty)
        #expect(h.at(1001, controller: .ping(Ping(id: 7))).heartbeats.map(\.ping) == [7])
        let exit = h.at(1002, .rankExited(ref, .exited(0), finalReports: []))
        #expect(exit.messages == [.exited(RankExited(rank: ref, status: 0))])
        // Once the controller caught up, droppable messages flow again.
        h.at(1003, .outputBacklog(bytes: 0))
        #expect(h.at(2000, .tick).heartbeats.count == 1)
    }

    @Test func oneStepCannotPushTheQueueFarPastTheHardLimit() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(0, .outputBacklog(bytes: (8 << 20) - 1000))
        // 4 KiB datagrams of step reports, 64 of them as one readiness would bring: the estimate of what was
        // sent since the report stops the flood after about 1 KiB more.
        var progress = 0
        let datagram = bytes(String(repeating: "step 1\n", count: 585))
        for _ in 0..<64 { progress += h.at(1, .rankReport(ref, datagram: datagram)).messages.count }
        #expect(progress > 0 && progress < 20, "\(progress) progress messages past the limit")
    }

    @Test func budgetArithmetic() {
        var b = OutputBudget(softLimit: 100, hardLimit: 1000)
        #expect(b.logsMayFlush)
        let admitted = [
            b.admit(droppable: true, bytes: 600),
            b.admit(droppable: true, bytes: 600),  // 600 ≤ 1000 when asked
            b.admit(droppable: true, bytes: 1),  // 1200 > 1000
            b.admit(droppable: false, bytes: 1),  // not droppable: always
        ]
        #expect(admitted == [true, true, false, true])
        #expect(b.logsMayFlush)  // the soft limit looks at the reported backlog only
        b.report(backlog: 100)
        #expect(!b.logsMayFlush)
        #expect(b.sentSinceReport == 0)
    }
}
