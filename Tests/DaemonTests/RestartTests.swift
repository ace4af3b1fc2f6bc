import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// The controller dies (kill -9) or is stopped (SIGTERM) during a training job: nothing stored is lost,
/// no rank or agent outlives it, and the next controller on the same state directory continues the job
/// as a new attempt from its newest committed checkpoint, without a resubmit.
@Suite(.serialized, .timeLimit(.minutes(5))) struct RestartTests {
    @Test func aKilledAndAStoppedControllerBothLeaveTheJobToContinue() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try localCluster(dir)
        let state = dir.file("state")
        let job = try dir.write("train.yaml", """
            name: train
            command: [ringmaster-train, --preset, micro, --steps, "300", --batch, "8", --checkpoint-every, "20", --log-every, "0"]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            checkpoint: {every: 20, keep: 2, dir: ckpt}
            """)

        // 1. kill -9 once a checkpoint is committed.
        let first = try await ControllerProcess.start(cluster: cluster, stateDirectory: state)
        try await first.waitForReadyNodes(4)
        let submitted = try await first.submit(job)
        _ = try await first.waitForEvent(job: submitted.id) { $0.kind == "checkpoint.committed" }
        let beforeKill = try await first.events(job: submitted.id)
        let agents = try await first.childPids()
        let ranks = try await first.detail(submitted.id).ranks.compactMap(\.pid)
        #expect(agents.count == 4 && ranks.count == 8)
        await first.kill9()
        // The agents saw their channel close and stopped their ranks: nothing is left.
        for pid in agents + ranks {
            try await eventually("pid \(pid) to end", within: .seconds(15), every: .milliseconds(50)) { !processIsAlive(pid) }
        }

        // 2. A new controller continues the job from its newest checkpoint; SIGTERM it after a new commit.
        let second = try await ControllerProcess.start(cluster: cluster, stateDirectory: state)
        let afterRestart = try await second.events(job: submitted.id)
        // No event was lost: the old rows are all there, unchanged.
        #expect(Array(afterRestart.prefix(beforeKill.count)) == beforeKill)
        let resumed = try await second.waitForEvent(job: submitted.id) {
            $0.kind == "attempt.started" && $0.message.hasPrefix("attempt 2 ")
        }
        let committedBefore = try await second.events(job: submitted.id).filter { $0.kind == "checkpoint.committed" }
        let newestBefore = try #require(committedBefore.compactMap { Self.step(of: $0) }.max())
        #expect(resumed.message.hasSuffix("resuming from step \(newestBefore)"))
        let commit = try await second.waitForEvent(job: submitted.id) {
            $0.kind == "checkpoint.committed" && $0.attempt == resumed.attempt
        }
        let ranks2 = try await second.detail(submitted.id).ranks.compactMap(\.pid)
        #expect(await second.stop() == 0)
        for pid in ranks2 { #expect(!processIsAlive(pid)) }

        // 3. A third controller finishes it.
        let third = try await ControllerProcess.start(cluster: cluster, stateDirectory: state)
        let done = try await third.waitForJob(submitted.id, within: .seconds(180))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.step == 300)
        #expect(done.restarts == 2)
        let attempts = try await third.detail(submitted.id).attempts
        #expect(attempts.map(\.state) == [.failed, .stopped, .succeeded])
        #expect(attempts[0].endReason == "the controller stopped while it ran (its agents stopped the ranks)")
        #expect(attempts[1].endReason == "controller shut down")
        #expect(attempts[1].resumeStep == newestBefore)
        let committed2 = try await third.events(job: submitted.id)
            .filter { $0.kind == "checkpoint.committed" && $0.attempt == commit.attempt }.compactMap { Self.step(of: $0) }
        #expect(attempts[2].resumeStep == committed2.max())
        #expect(await third.stop() == 0)
    }

    /// The step of a `checkpoint.committed` event ("checkpoint step N of …").
    static func step(of e: EventView) -> Int? {
        let words = e.message.split(separator: " ")
        guard let i = words.firstIndex(of: "step"), i + 1 < words.count else { return nil }
        return Int(words[i + 1])
    }
}
