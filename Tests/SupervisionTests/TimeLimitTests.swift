import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// A node source's time limit (a Slurm holder job's warning): checkpoint now, stop there, resume elsewhere.
@Suite struct TimeLimitTests {
    /// The job runs on n0 and n1 (n2 is a spare) and reached step 6 with step 5 committed.
    static func warned(spec: JobSpec = Harness.spec()) -> (Harness, JobID) {
        var (h, job) = FailureKindTests.running(spec: spec)
        h.send(.timeLimit(["n0", "n1"], cause: "holder job 7 is near its time limit"))
        return (h, job)
    }

    @Test func theAttemptIsAskedForACheckpointAheadOfItsProgress() throws {
        let (h, job) = Self.warned()
        let request = try #require(h.checkpointRequests.last)
        #expect(h.checkpointRequests.count == 1)
        #expect(request.job == job && request.attempt == 1 && request.ranks.count == 4)
        // Steps every 0.1 s: about two seconds ahead.
        #expect(request.step == 6 + 20)
        #expect(h.signals.isEmpty && h.vacated.isEmpty)
    }

    @Test func theCommittedStepStopsTheAttemptAndTheJobResumesFromItOnOtherNodes() throws {
        var (h, job) = Self.warned()
        let asked = try #require(h.checkpointRequests.last?.step)
        for s in 7...asked {
            h.advance(by: 0.1)
            h.step(job, s)
        }
        #expect(h.signals.isEmpty, "nothing stops before the checkpoint commits")
        h.checkpoint(job, asked)
        let signal = try #require(h.signals.last)
        #expect(signal.signal == 15 && signal.ranks.count == 4)
        h.survivorsExit(job)
        #expect(h.finishedAttempts.last.map { $0.2 } == .stopped)
        #expect(h.failures(job).isEmpty, "a move is no failure")
        #expect(h.core.jobs[job]?.restarts == 0)
        // Nothing is placed on the expiring nodes; they are reported free.
        #expect(h.launches.count == 1 && h.jobStates[job] == .pending)
        #expect(h.vacated == [["n0", "n1"]])
        // The allocation moves the slots: their agents end, and come back on the new allocation's nodes.
        for n in ["n0", "n1"] { h.send(.node(NodeID(n), .lost, cause: "moved to Slurm job 8", accelerators: nil)) }
        for n in ["n0", "n1"] { h.send(.node(NodeID(n), .ready, cause: "hello", accelerators: nil)) }
        let launch = try #require(h.launches.last)
        #expect(h.launches.count == 2 && launch.resumeStep == asked && launch.attempt == 2)
        #expect(Set(launch.placement.nodes) == ["n0", "n1"] && !launch.recovering)
    }

    @Test func aRequestNoRankCouldMeetIsMadeAgainForALaterStep() throws {
        var (h, job) = Self.warned()
        let first = try #require(h.checkpointRequests.last)
        for s in 7...(first.step + 19) {
            h.advance(by: 0.1)
            h.step(job, s)
        }
        #expect(h.checkpointRequests.count == 1)
        h.advance(by: 0.1)
        h.step(job, first.step + 20)
        let second = try #require(h.checkpointRequests.last)
        #expect(h.checkpointRequests.count == 2 && second.step == first.step + 20 + 40)
    }

    @Test func aPeriodicCheckpointAfterTheRequestAlsoEndsTheAttempt() {
        var (h, job) = Self.warned()
        h.advance(by: 0.1)
        h.step(job, 10)
        h.checkpoint(job, 10)
        #expect(h.signals.last?.signal == 15)
    }

    @Test func aJobWithoutCheckpointsIsNotAskedAndKeepsItsNodes() {
        let (h, _) = Self.warned(spec: Harness.spec(checkpoint: false))
        #expect(h.checkpointRequests.isEmpty && h.signals.isEmpty && h.vacated.isEmpty)
        #expect(h.notes.contains { $0.contains("runs on until the time limit") })
    }

    @Test func idleExpiringNodesAreVacatedAtOnceAndNotPlacedOn() {
        var h = Harness(nodes: 2, spares: 1)
        h.send(.timeLimit(["n0"], cause: "holder job 7 is near its time limit"))
        #expect(h.vacated == [["n0"]])
        h.submit(Harness.spec(data: 1, tensor: 2))
        #expect(h.launches.last.map { !$0.placement.nodes.contains("n0") } == true)
    }
}
