import RingmasterModel
import SimulatedNodes
import Testing

@Suite struct VirtualRankTests {
    static let ref = RankRef(job: "job-1", attempt: 1, rank: 3)

    func program(_ argv: [String] = ["sim"], env: [String: String] = [:],
                 settings: SimulationSettings = SimulationSettings(stepTime: .seconds(1), checkpointEvery: 4)) -> VirtualRankProgram {
        guard case .success(let p) = VirtualRankProgram.parse(argv: argv, env: env, settings: settings) else {
            Issue.record("\(argv) did not parse")
            return VirtualRankProgram(settings: settings)
        }
        return p
    }

    @Test func reportsAStepEachStepTimeAndACheckpointEveryK() {
        var rank = VirtualRank(ref: Self.ref, pid: 9, program: program(), seed: 1, now: .zero)
        let r1 = rank.advance(to: .milliseconds(999))
        #expect(r1 == [])
        let r2 = rank.advance(to: .seconds(1))
        #expect(r2 == ["step 1"])
        let r3 = rank.advance(to: .milliseconds(3500))
        #expect(r3 == ["step 2", "step 3"])
        let r4 = rank.advance(to: .seconds(4))
        #expect(r4 == ["step 4", "checkpoint 4"])
        #expect(rank.nextStepAt == .seconds(5))
        #expect(!rank.ended)
    }

    /// `checkpoint-now STEP` relayed by the agent: the rank checkpoints that step besides its periodic ones; a
    /// request for a step it has passed, or a line it does not know, changes nothing.
    @Test func aCheckpointNowRequestIsSavedAtTheStepItNames() {
        var rank = VirtualRank(ref: Self.ref, pid: 9, program: program(), seed: 1, now: .zero)
        #expect(rank.advance(to: .seconds(1)) == ["step 1"])
        rank.relayed("checkpoint-now 1")
        rank.relayed("checkpoint-now 2")
        rank.relayed("something else")
        #expect(rank.advance(to: .seconds(3)) == ["step 2", "checkpoint 2", "step 3"])
        #expect(rank.advance(to: .seconds(4)) == ["step 4", "checkpoint 4"])
    }

    @Test func exitsWithItsExitCodeAfterItsLastStep() {
        var rank = VirtualRank(ref: Self.ref, pid: 9, program: program(["sim", "--steps", "2", "--exit-code", "3"]), seed: 1, now: .zero)
        let r5 = rank.advance(to: .seconds(10))
        #expect(r5 == ["step 1", "step 2"])
        #expect(rank.termination == .exited(3))
        #expect(rank.nextStepAt == nil)
        let r6 = rank.advance(to: .seconds(20))
        #expect(r6 == [])
    }

    @Test func resumesAfterTheResumeStepAndWaitsOutItsStartup() {
        let p = program(["sim", "--startup", "2s", "--step-time", "100ms"], env: ["RINGMASTER_RESUME_STEP": "40"])
        var rank = VirtualRank(ref: Self.ref, pid: 9, program: p, seed: 1, now: .seconds(5))
        let r7 = rank.advance(to: .milliseconds(7050))
        #expect(r7 == [])
        let r8 = rank.advance(to: .milliseconds(7100))
        #expect(r8 == ["step 41"])
    }

    @Test func aStoppedRankIsSilentUntilContinued() {
        var rank = VirtualRank(ref: Self.ref, pid: 9, program: program(), seed: 1, now: .zero)
        let r9 = rank.advance(to: .seconds(1))
        #expect(r9 == ["step 1"])
        let r10 = rank.signal(19, now: .milliseconds(1500))  // SIGSTOP
        #expect(!r10)
        #expect(rank.stopped)
        let r11 = rank.advance(to: .seconds(60))
        #expect(r11 == [])
        // SIGTERM waits while the rank is stopped, as the kernel holds it; SIGCONT delivers it.
        let r12 = rank.signal(15, now: .seconds(61))
        #expect(!r12)
        let r13 = rank.signal(18, now: .seconds(62))  // SIGCONT
        #expect(r13)
        #expect(rank.termination == .signaled(15))
    }

    @Test func aContinuedRankStepsAgainAndSIGKILLEndsEvenAStoppedOne() {
        var rank = VirtualRank(ref: Self.ref, pid: 9, program: program(), seed: 1, now: .zero)
        _ = rank.signal(19, now: .milliseconds(500))
        _ = rank.signal(18, now: .seconds(10))
        let r14 = rank.advance(to: .seconds(11))
        #expect(r14 == ["step 1"])
        _ = rank.signal(19, now: .seconds(12))
        let r15 = rank.signal(9, now: .seconds(13))
        #expect(r15)
        #expect(rank.termination == .signaled(9))
        let r16 = rank.signal(15, now: .seconds(14))
        #expect(!r16)
    }

    @Test func jitterStaysWithinItsBoundAndRepeatsWithTheSeed() {
        let p = program(["sim", "--jitter", "0.2", "--checkpoint-every", "0"])
        func times(seed: UInt64) -> [Duration] {
            var rank = VirtualRank(ref: Self.ref, pid: 9, program: p, seed: seed, now: .zero)
            var out: [Duration] = []
            for _ in 0..<50 {
                let due = rank.nextStepAt!
                out.append(due)
                _ = rank.advance(to: due)
            }
            return out
        }
        let a = times(seed: 7)
        #expect(a == times(seed: 7))
        #expect(a != times(seed: 8))
        for (earlier, later) in zip([Duration.zero] + a, a) {
            #expect(later - earlier >= .milliseconds(800) && later - earlier <= .milliseconds(1200))
        }
    }

    @Test func aMalformedOptionNamesItself() {
        let settings = SimulationSettings()
        for (argv, option) in [(["sim", "--steps", "zero"], "--steps zero"), (["sim", "--step-time", "fast"], "--step-time fast"),
                               (["sim", "--exit-code"], "--exit-code needs a value"), (["sim", "--jitter", "1.5"], "--jitter 1.5")] {
            guard case .failure(let refusal) = VirtualRankProgram.parse(argv: argv, env: [:], settings: settings) else {
                Issue.record("\(argv) parsed")
                continue
            }
            #expect(refusal.description.contains(option), "\(refusal)")
        }
        // Words it does not know are someone else's options (a real trainer's): ignored.
        #expect((try? VirtualRankProgram.parse(argv: ["ringmaster-train", "--preset", "tiny"], env: [:], settings: settings).get()) != nil)
    }
}
