import RingmasterModel
import SlurmNodes
import Testing

/// The holder job's time-limit warning, driven by hand: the slots expire, a successor is submitted, each
/// slot moves once the controller says it is vacated (or once the old job ended), the old job is cancelled.
struct AllocationTimeLimitTests: SlurmStatusFixtures {
    let settings = SlurmSettings(nodes: 2, spares: 0, partition: "debug")
    var slots: [NodeID] { settings.slots(line: nil).map(\.id) }

    /// Holder job 3 runs on n1 and n2; its warning arrived.
    func warned() -> (AllocationCore, [AllocationCore.Action]) {
        var core = AllocationCore(settings: settings, slots: slots)
        _ = core.start(restored: [])
        _ = core.submitted(.allocation, job: "3")
        _ = core.observed(jobs: ["3": running("3", ["n1", "n2"])], nodes: healthy(["n1", "n2"]))
        let actions = core.timeLimitSignal(job: "3")
        return (core, actions)
    }

    @Test func theWarningExpiresTheJobsSlotsAndSubmitsASuccessorOfAsManyNodes() {
        let (core, actions) = warned()
        let reason = "holder job 3 is near its time limit (Slurm's --signal warning)"
        #expect(actions == [
            .note(reason + "; moving slurm-0, slurm-1 to a new allocation"),
            .expiring(slots, reason: reason),
            .submit(.successor("3"), count: 2, exclude: []),
        ])
        #expect(core.moving == [slots[0]: "3", slots[1]: "3"])
    }

    @Test func aRunningSuccessorTakesOnlyVacatedSlotsThenTheOldJobIsCancelled() {
        var (core, _) = warned()
        _ = core.submitted(.successor("3"), job: "4")
        let jobs = ["3": running("3", ["n1", "n2"]), "4": running("4", ["n3", "n4"])]
        let nodes = healthy(["n1", "n2", "n3", "n4"])
        // Running, but the job still works on the old nodes: nothing moves.
        #expect(core.observed(jobs: jobs, nodes: nodes).isEmpty)
        #expect(core.bindings[slots[0]]?.host == "n1")
        let first = core.vacated([slots[0]])
        #expect(first == [
            .lose(slots[0], reason: "slurm-0 moves from n1 (Slurm job 3, near its time limit) to n3 (Slurm job 4)"),
            .note("slurm-0 moved to n3 (Slurm job 4)"),
        ])
        #expect(core.bindings[slots[0]] == SlotBinding(job: "4", host: "n3", address: "10.0.0.3"))
        let second = core.vacated([slots[1]])
        #expect(second.contains(.cancel(["3"])))
        #expect(second.contains(.persist([HolderJob(id: "4", purpose: .successor("3"))])))
        #expect(core.bindings[slots[1]]?.host == "n4" && core.jobs.map(\.id) == ["4"] && core.moving.isEmpty)
        // The old job leaving the queue after its cancel is no loss.
        #expect(core.observed(jobs: ["4": running("4", ["n3", "n4"])], nodes: nodes).isEmpty)
    }

    @Test func slotsVacatedBeforeTheSuccessorRunsMoveWhenItDoes() {
        var (core, _) = warned()
        _ = core.submitted(.successor("3"), job: "4")
        #expect(core.vacated(slots).isEmpty)
        _ = core.observed(jobs: ["3": running("3", ["n1", "n2"]), "4": SlurmJobStatus(id: "4", state: "PENDING", reason: "Resources", nodes: [])],
                          nodes: healthy(["n1", "n2"]))
        #expect(core.bindings[slots[0]]?.job == "3")
        let moved = core.observed(jobs: ["3": running("3", ["n1", "n2"]), "4": running("4", ["n3", "n4"])], nodes: healthy(["n1", "n2", "n3", "n4"]))
        #expect(moved.filter { if case .lose = $0 { true } else { false } }.count == 2)
        #expect(moved.contains(.cancel(["3"])))
    }

    @Test func anOldJobThatEndsFirstLeavesItsSlotsWaitingForTheSuccessorNotForReplacements() {
        var (core, _) = warned()
        _ = core.submitted(.successor("3"), job: "4")
        let pending = SlurmJobStatus(id: "4", state: "PENDING", reason: "Resources", nodes: [])
        let ended = core.observed(jobs: ["3": SlurmJobStatus(id: "3", state: "TIMEOUT", reason: "None", nodes: []), "4": pending], nodes: [:])
        #expect(ended.filter { if case .lose = $0 { true } else { false } }.count == 2)
        #expect(!ended.contains { if case .submit = $0 { true } else { false } })
        #expect(core.waiting(slots[0]) == "waiting for the next allocation: Slurm job 4 pending (Resources)")
        _ = core.observed(jobs: ["4": running("4", ["n3", "n4"])], nodes: healthy(["n3", "n4"]))
        #expect(core.bindings[slots[0]]?.host == "n3" && core.bindings[slots[1]]?.host == "n4")
    }

    @Test func aSuccessorThatEndsBeforeRunningAsksForReplacementsOfTheUnboundSlots() {
        var (core, _) = warned()
        _ = core.submitted(.successor("3"), job: "4")
        _ = core.observed(jobs: ["3": SlurmJobStatus(id: "3", state: "TIMEOUT", reason: "None", nodes: []),
                                 "4": SlurmJobStatus(id: "4", state: "PENDING", reason: "Resources", nodes: [])], nodes: [:])
        let gone = core.observed(jobs: [:], nodes: [:])
        #expect(gone.contains(.submit(.replacement(slots[0]), count: 1, exclude: [])))
        #expect(gone.contains(.submit(.replacement(slots[1]), count: 1, exclude: [])))
    }

    @Test func aJobBeingSignalledIsStillRunning() {
        var (core, _) = warned()
        let signalling = SlurmJobStatus(id: "3", state: "SIGNALING", reason: "None", nodes: ["n1", "n2"])
        #expect(signalling.isRunning)
        #expect(!core.observed(jobs: ["3": signalling], nodes: healthy(["n1", "n2"])).contains { if case .lose = $0 { true } else { false } })
        #expect(core.bindings[slots[0]]?.job == "3")
    }
}
