import RingmasterModel
import SlurmNodes
import Testing

/// The allocation's decisions, driven by hand: submit, pending, bind, lose, replace, re-attach, stop.
struct AllocationCoreTests: SlurmStatusFixtures {
    let settings = SlurmSettings(nodes: 2, spares: 1, partition: "debug")
    var slots: [NodeID] { settings.slots(line: nil).map(\.id) }

    @Test func theHolderJobIsSubmittedWaitsPendingAndBindsEverySlotWhenItRuns() {
        var core = AllocationCore(settings: settings, slots: slots)
        #expect(core.start(restored: []) == [.submit(.allocation, count: 3, exclude: [])])
        #expect(core.waiting(slots[0]) == "waiting for the Slurm allocation: submitting a holder job")
        let submitted = core.submitted(.allocation, job: "41")
        #expect(submitted.contains(.persist([HolderJob(id: "41", purpose: .allocation)])))
        let pending = core.observed(jobs: ["41": SlurmJobStatus(id: "41", state: "PENDING", reason: "Resources", nodes: [])], nodes: [:])
        #expect(pending == [.note("holder job 41 (allocation) is pending: Resources")])
        #expect(core.waiting(slots[2]) == "waiting for the Slurm allocation: Slurm job 41 pending (Resources)")
        // The same reason again says nothing new.
        #expect(core.observed(jobs: ["41": SlurmJobStatus(id: "41", state: "PENDING", reason: "Resources", nodes: [])], nodes: [:]).isEmpty)
        let run = core.observed(jobs: ["41": running("41", ["n1", "n2", "n3"])], nodes: healthy(["n1", "n2", "n3"]))
        #expect(run == [.note("holder job 41 is running: slurm-0=n1 slurm-1=n2 slurm-2=n3")])
        #expect(core.bindings[slots[1]] == SlotBinding(job: "41", host: "n2", address: "10.0.0.2"))
        #expect(core.waiting(slots[1]) == nil)
    }

    @Test func aNodeSlurmReportsLostEndsItsStepAndAReplacementExcludingItTakesTheSlot() {
        var core = AllocationCore(settings: settings, slots: slots)
        _ = core.start(restored: [])
        _ = core.submitted(.allocation, job: "7")
        _ = core.observed(jobs: ["7": running("7", ["n1", "n2", "n3"])], nodes: healthy(["n1", "n2", "n3", "n4"]))
        var nodes = healthy(["n1", "n2", "n3", "n4"])
        nodes["n2"]?.flags = ["NOT_RESPONDING"]
        let lost = core.observed(jobs: ["7": running("7", ["n1", "n2", "n3"])], nodes: nodes)
        #expect(lost == [
            .lose(slots[1], reason: "Slurm reports n2 not responding (slot slurm-1, Slurm job 7)"),
            .note("slurm-1 lost its node n2: Slurm reports n2 not responding"),
            .submit(.replacement(slots[1]), count: 1, exclude: ["n2"]),
        ])
        #expect(core.badHosts == ["n2"])
        // Asked once, however often Slurm repeats it.
        #expect(core.observed(jobs: ["7": running("7", ["n1", "n2", "n3"])], nodes: nodes).isEmpty)
        _ = core.submitted(.replacement(slots[1]), job: "8")
        #expect(core.waiting(slots[1])?.hasPrefix("waiting for a replacement node: Slurm job 8") == true)
        let replaced = core.observed(jobs: ["7": running("7", ["n1", "n2", "n3"]), "8": running("8", ["n4"])], nodes: nodes)
        #expect(replaced == [.note("replacement job 8 is running: slurm-1=n4")])
        #expect(core.bindings[slots[1]]?.host == "n4")
        // Stop cancels both jobs and forgets them.
        #expect(core.stop() == [.cancel(["7", "8"]), .note("cancelled holder jobs 7, 8"), .persist([])])
        #expect(core.stop().isEmpty)
    }

    @Test func aFailedSubmitIsRetriedAfterTheDelayOnTheClock() {
        var core = AllocationCore(settings: settings, slots: slots)
        var now = Duration.seconds(100)
        _ = core.start(restored: [])
        let failed = core.submitFailed(.allocation, error: "sbatch: error: invalid partition", now: now)
        #expect(failed == [.note("sbatch failed (allocation): sbatch: error: invalid partition; trying again in 30s")])
        #expect(core.waiting(slots[0]) == "waiting for the Slurm allocation: sbatch failed: sbatch: error: invalid partition")
        #expect(core.nextDeadline == .seconds(130))
        now += .seconds(29)
        #expect(core.tick(now: now).isEmpty)
        now += .seconds(1)
        #expect(core.tick(now: now) == [.submit(.allocation, count: 3, exclude: [])])
        #expect(core.nextDeadline == nil)
    }

    @Test func aRestartAdoptsTheHolderJobSlurmStillRunsAndSubmitsOnlyWhenItIsGone() {
        var core = AllocationCore(settings: settings, slots: slots)
        let previous = [HolderJob(id: "12", purpose: .allocation)]
        #expect(core.start(restored: previous) == [.note("checking the holder jobs of the previous controller: 12")])
        let adopted = core.observed(jobs: ["12": running("12", ["n1", "n2", "n3"])], nodes: healthy(["n1", "n2", "n3"]))
        #expect(adopted.first == .persist(previous))
        #expect(adopted.contains(.note("re-attached to holder jobs 12")))
        #expect(!adopted.contains { if case .submit = $0 { true } else { false } })
        #expect(core.bindings.count == 3)

        var fresh = AllocationCore(settings: settings, slots: slots)
        _ = fresh.start(restored: previous)
        let gone = fresh.observed(jobs: [:], nodes: [:])
        #expect(gone == [.persist([]), .submit(.allocation, count: 3, exclude: [])])
    }

    @Test func anEndedHolderJobLosesItsSlotsAndInsideAnAllocationNothingIsSubmittedOrCancelled() {
        var inside = AllocationCore(settings: settings, slots: slots)
        let start = inside.start(restored: [], existing: (job: "99", hosts: ["c1", "c2", "c3"]))
        #expect(start.last == .note("using the allocation of Slurm job 99 (c1,c2,c3)"))
        #expect(inside.bindings[slots[2]]?.host == "c3")
        #expect(inside.stop() == [.persist([])])

        var core = AllocationCore(settings: settings, slots: slots)
        _ = core.start(restored: [])
        _ = core.submitted(.allocation, job: "5")
        _ = core.observed(jobs: ["5": running("5", ["n1", "n2", "n3"])], nodes: healthy(["n1", "n2", "n3"]))
        let ended = core.observed(jobs: ["5": SlurmJobStatus(id: "5", state: "TIMEOUT", reason: "TimeLimit", nodes: [])], nodes: [:])
        #expect(ended.filter { if case .lose = $0 { true } else { false } }.count == 3)
        #expect(core.bindings.isEmpty && core.jobs.isEmpty)
    }

    @Test func theTimeLimitWarningIsNotedOncePerJob() {
        var core = AllocationCore(settings: settings, slots: slots)
        _ = core.start(restored: [])
        _ = core.submitted(.allocation, job: "3")
        #expect(core.timeLimitSignal(job: "3") == [.note("holder job 3 is near its time limit (Slurm's --signal warning)")])
        #expect(core.timeLimitSignal(job: "3").isEmpty)
        #expect(core.timeLimitSignal(job: "4").isEmpty)
    }
}

/// A slot the fault manager quarantined: its node is excluded from new holder jobs until it is released.
struct AllocationQuarantineTests {
    let settings = SlurmSettings(nodes: 2, spares: 1, partition: "debug")
    var slots: [NodeID] { settings.slots(line: nil).map(\.id) }

    @Test func replacementsExcludeTheQuarantinedAndTheLostNodes() {
        var core = AllocationCore(settings: settings, slots: slots)
        _ = core.start(restored: [])
        _ = core.submitted(.allocation, job: "7")
        let nodes = Dictionary(uniqueKeysWithValues: ["n1", "n2", "n3"].map { ($0, SlurmNodeStatus(name: $0, address: nil, state: "allocated")) })
        let running = SlurmJobStatus(id: "7", state: "RUNNING", reason: "None", nodes: ["n1", "n2", "n3"])
        _ = core.observed(jobs: ["7": running], nodes: nodes)
        #expect(core.quarantine(slots[0], true) == [.note("slurm-0 quarantined: n1 is excluded from every holder job submitted from now on")])
        #expect(core.quarantine(slots[0], true).isEmpty)
        var down = nodes
        down["n2"]?.flags = ["NOT_RESPONDING"]
        let lost = core.observed(jobs: ["7": running], nodes: down)
        #expect(lost.contains(.submit(.replacement(slots[1]), count: 1, exclude: ["n1", "n2"])))
        #expect(core.quarantine(slots[0], false) == [.note("slurm-0 released: n1 is no longer excluded")])
        #expect(core.quarantine(slots[2], false).isEmpty)
    }
}
