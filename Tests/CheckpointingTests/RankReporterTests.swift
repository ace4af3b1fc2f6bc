import Checkpointing
import Foundation
import RingmasterTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct RankReports {
    @Test func reportsArriveOneDatagramPerLine() throws {
        try withTemporaryDirectory { dir in
            let listener = DatagramListener(path: "\(dir)/control.sock")
            let reporter = try #require(RankReporter.fromEnvironment(["RINGMASTER_CONTROL": listener.path]))
            reporter.step(41)
            reporter.metric("loss", 2.5)
            let ckpt = Checkpointer(.init(directory: "\(dir)/ckpt", rank: 0, worldSize: 2, async: false,
                                          reporter: reporter))
            try ckpt.save(snapshot(step: 42))
            #expect(listener.receive() == "step 41")
            #expect(listener.receive() == "metric loss 2.5")
            #expect(listener.receive() == "checkpoint 42")
            // With a reporter the controller commits, not the rank.
            #expect(CheckpointLayout(directory: "\(dir)/ckpt").committedSteps().isEmpty)
        }
    }

    @Test func noControlSocketMeansNoReporter() {
        #expect(RankReporter.fromEnvironment([:]) == nil)
    }
}
