import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// What a checkpoint that cannot be saved or committed, and a launch the store cannot record, mean for a
/// job (issue 14, storage faults): decisions of the core, on a manual clock.
@Suite struct StorageFaultTests {
    static func failedCheckpoints(_ h: Harness, _ job: JobID) -> [(step: Int, newest: Int?, inARow: Int, message: String)] {
        h.events(.checkpointFailed, job: job).compactMap { e in
            guard case .checkpointFailed(let step, _, let newest, let inARow) = e.detail else { return nil }
            return (step, newest, inARow, e.message)
        }
    }

    @Test func aShardThatCannotBeWrittenLeavesTheStepUncommittedAndTrainingGoesOn() {
        var (h, job) = FailureKindTests.running()
        let a = try! #require(h.attempt(job))
        let rank = RankRef(job: job, attempt: a.number, rank: 2)
        let reason = "cannot write /ckpt/step-10/.rank-2.partial-1A2B3C4D/adam-m.bin: No space left on device"
        h.send(.checkpointFailed(rank, step: 10, reason: reason))
        // The other ranks wrote theirs: the step is still never committed.
        h.checkpoint(job, 10)
        #expect(h.commits == [5])
        let failed = Self.failedCheckpoints(h, job)
        #expect(failed.count == 1)
        #expect(failed.first?.step == 10 && failed.first?.newest == 5 && failed.first?.inARow == 1)
        let message = failed.first?.message ?? ""
        #expect(message.contains("step 10 of \(job) was not committed: rank 2 on n1 could not write its shard: \(reason)"),
                "\(message)")
        #expect(message.contains("training continues and a failure now resumes from step 5"), "\(message)")
        #expect(h.events(.checkpointFailed, job: job).first?.rank == 2)
        // A second rank's failure of the same step is the same event; the job keeps running.
        h.send(.checkpointFailed(RankRef(job: job, attempt: a.number, rank: 0), step: 10, reason: reason))
        #expect(Self.failedCheckpoints(h, job).count == 1)
        #expect(h.attempt(job)?.stopping == false)
        #expect(h.signals.isEmpty)
        // The next step fails too (counted in a row), then one commits and the count starts over.
        h.send(.checkpointFailed(rank, step: 15, reason: reason))
        #expect(Self.failedCheckpoints(h, job).last?.inARow == 2)
        #expect(Self.failedCheckpoints(h, job).last?.message.contains("(2 checkpoints in a row failed)") == true)
        h.checkpoint(job, 20)
        #expect(h.commits == [5, 20])
        #expect(h.core.jobs[job]?.failedCheckpoints == 0)
        // The uncommitted steps are pruned as partial once a newer one is committed.
        let prunes = h.all.compactMap { action -> [Int]? in
            if case .pruneCheckpoints(_, _, let partial) = action { return partial }
            return nil
        }
        #expect(prunes.last == [10, 15])
        // A failure now resumes from the newest committed step.
        h.exit(job, rank: 1, status: 1)
        h.survivorsExit(job)
        #expect(h.launches.last?.resumeStep == 20)
    }

    @Test func aCommitTheControllerCannotWriteIsAFailedCheckpointNotACommit() {
        var (h, job) = FailureKindTests.running()
        h.failCommits = [10]
        h.checkpoint(job, 10)
        #expect(h.commits == [5, 10])
        #expect(h.core.jobs[job]?.committed == [5])
        let failed = Self.failedCheckpoints(h, job)
        #expect(failed.count == 1 && failed.first?.step == 10 && failed.first?.newest == 5)
        #expect(failed.first?.message.contains("the controller could not commit it: no space left") == true)
        h.exit(job, rank: 0, status: 1)
        h.survivorsExit(job)
        #expect(h.launches.last?.resumeStep == 5)
    }

    @Test func withoutAnyCommittedStepTheEventSaysAFailureStartsOver() {
        var h = Harness(nodes: 2)
        let job = h.submit(Harness.spec())
        h.start(job)
        h.step(job, 5)
        let a = try! #require(h.attempt(job))
        h.send(.checkpointFailed(RankRef(job: job, attempt: a.number, rank: 0), step: 5, reason: "disk full"))
        let failed = Self.failedCheckpoints(h, job)
        #expect(failed.first?.newest == nil)
        #expect(failed.first?.message.contains("no step is committed yet: a failure now starts over") == true)
        // A report from another attempt, or about a job without checkpoints, changes nothing.
        h.send(.checkpointFailed(RankRef(job: job, attempt: a.number + 1, rank: 0), step: 10, reason: "disk full"))
        #expect(Self.failedCheckpoints(h, job).count == 1)
    }

    @Test func aFreshLaunchTheStoreCannotRecordWaitsAndIsTriedAgainWithoutSpendingARestart() {
        var h = Harness(nodes: 2)
        h.deferLaunches = 2
        let job = h.submit(Harness.spec())
        #expect(h.launches.count == 1)
        #expect(h.jobStates[job] != .failed)
        let deferred = h.events(.jobWaiting, job: job).filter { $0.message.contains("could not launch attempt 1") }
        #expect(deferred.count == 1)
        #expect(deferred.first?.message.contains("the state database is full; trying again in 5 s") == true)
        // The nodes are free meanwhile, and nothing is retried before the timer.
        #expect(h.core.fleet.reserved.isEmpty)
        h.advance(by: 4.9)
        #expect(h.launches.count == 1)
        h.advance(by: 0.1)
        #expect(h.launches.count == 2 && h.launches[1].attempt == 1)
        h.advance(by: 5)
        #expect(h.launches.count == 3 && h.launches[2].attempt == 1)
        #expect(h.core.jobs[job]?.restarts == 0 && h.core.jobs[job]?.attempts == 1)
        h.start(job)
        h.step(job, 1)
        #expect(h.attempt(job)?.stepping == true)
    }

    @Test func aRecoveryTheStoreCannotRecordIsTheSameRecoveryTriedAgain() {
        var (h, job) = FailureKindTests.running()
        h.deferLaunches = 1
        h.exit(job, rank: 3, status: 7)
        h.survivorsExit(job)
        #expect(h.launches.count == 2)
        #expect(h.core.jobs[job]?.restarts == 0)
        h.advance(by: 5)
        #expect(h.launches.count == 3)
        #expect(h.launches[2].attempt == 2 && h.launches[2].resumeStep == 5 && h.launches[2].recovering)
        #expect(h.core.jobs[job]?.restarts == 1)
        h.start(job)
        h.step(job, 6)
        let complete = h.events(.recoveryComplete, job: job)
        #expect(complete.count == 1)
    }

    @Test func aCancelWhileALaunchIsDeferredEndsTheJob() {
        var h = Harness(nodes: 2)
        h.deferLaunches = 1
        let job = h.submit(Harness.spec())
        h.send(.cancel(job, request: 1))
        #expect(h.jobStates[job] == .cancelled)
        h.advance(by: 10)
        #expect(h.launches.count == 1)
    }
}
