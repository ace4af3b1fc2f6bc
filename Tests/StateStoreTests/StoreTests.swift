import Foundation
import GRDB
import RingmasterModel
import StateStore
import Testing

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func demoSpec(name: String = "demo") -> JobSpec {
    JobSpec(name: name, command: ["python3", "train.py"], parallelism: Parallelism(data: 2, pipeline: 1, tensor: 2))
}

func demoNodes() -> [NodeEntry] {
    (0..<2).map { NodeEntry(id: NodeID("local-\($0)"), host: "localhost",
                            accelerators: Accelerator.simulated(count: 2, node: "local-\($0)")) }
}

func demoPlacement() -> Placement {
    let p = Parallelism(data: 2, pipeline: 1, tensor: 2)
    return Placement(parallelism: p, ranks: (0..<4).map { r in
        RankAssignment(rank: r, node: NodeID("local-\(r / 2)"), localRank: r % 2, devices: [r % 2],
                       coordinates: p.coordinates(of: r))
    })
}

@Suite struct StoreBehaviour {
    @Test func nodesRegisterAndEveryStateChangeIsAnEvent() throws {
        let store = try RingmasterStore.inMemory()
        for n in demoNodes() { try store.registerNode(n, at: t0) }
        try store.registerNode(demoNodes()[0], at: t0)  // re-registering is not a new node
        try store.setNodeState("local-0", to: .ready, reason: "agent said hello", at: t0 + 1)
        try store.setNodeState("local-0", to: .ready, reason: "again", at: t0 + 2)  // unchanged: no event
        try store.setNodeState("local-1", to: .unreachable, reason: "connection refused", at: t0 + 3)

        #expect(try store.nodes().map(\.state) == [.ready, .unreachable])
        #expect(try store.node("local-1")?.stateReason == "connection refused")
        #expect(try store.node("local-0")?.accelerators.count == 2)
        let events = try store.events()
        #expect(events.map(\.kind) == [.nodeRegistered, .nodeRegistered, .nodeState, .nodeState])
        #expect(events[2].message == "local-0 connecting → ready: agent said hello")
        #expect(events[2].time == t0 + 1)
        #expect(events[3].nodeId == "local-1")
        #expect(throws: StoreError.unknownNode("nope")) {
            try store.setNodeState("nope", to: .ready, reason: nil, at: t0)
        }
    }

    @Test func jobLifecycleWithAttemptsRanksAndRestarts() throws {
        let store = try RingmasterStore.inMemory()
        for n in demoNodes() { try store.registerNode(n, at: t0) }
        let job = try store.submitJob(demoSpec(), manifest: "name: demo\n", manifestPath: "/m/demo.yaml", uid: JobRecord.newUID(), at: t0)
        #expect(job.id == "demo-1")
        #expect(job.state == .pending)
        #expect(try store.job("demo-1")?.spec == demoSpec())

        let first = try store.startAttempt(job.id, placement: demoPlacement(), token: .generate(), resumeStep: nil,
                                           at: t0 + 1)
        #expect(first.number == 1)
        #expect(try store.job(job.id)?.state == .running)
        #expect(try store.ranks(of: first.id!).map(\.state) == [.pending, .pending, .pending, .pending])
        for r in 0..<4 { try store.recordRankStarted(attempt: first.id!, rank: r, pid: Int32(100 + r), at: t0 + 2) }
        #expect(try store.attempts(of: job.id).first?.state == .running)
        try store.recordRankExited(attempt: first.id!, rank: 3, status: nil, signal: 9, at: t0 + 3)
        try store.finishAttempt(first.id!, as: .failed, reason: "rank 3 killed by signal 9", at: t0 + 3)
        try store.setJobState(job.id, to: .recovering, reason: "rank-exit", at: t0 + 3)

        let second = try store.startAttempt(job.id, placement: demoPlacement(), token: .generate(), resumeStep: 40,
                                            at: t0 + 4)
        #expect(second.number == 2)
        #expect(second.resumeStep == 40)
        #expect(second.token != first.token)
        let after = try #require(try store.job(job.id))
        #expect(after.state == .running)
        #expect(after.restarts == 1)
        #expect(try store.ranks(of: first.id!)[3].exitSignal == 9)

        let kinds = try store.events(job: job.id).map(\.kind.rawValue)
        #expect(kinds == ["job.submitted", "job.state", "attempt.started", "rank.started", "rank.started",
                          "rank.started", "rank.started", "rank.exited", "attempt.finished", "job.state",
                          "job.state", "attempt.started"])
        #expect(throws: StoreError.attemptAlreadyFinished(first.id!, .failed)) {
            try store.finishAttempt(first.id!, as: .stopped, reason: "again", at: t0 + 5)
        }
    }

    @Test func illegalJobTransitionsAreRefusedAndChangeNothing() throws {
        let store = try RingmasterStore.inMemory()
        let job = try store.submitJob(demoSpec(), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        try store.setJobState(job.id, to: .cancelled, reason: "user", at: t0 + 1)
        #expect(throws: StoreError.illegalTransition(job: job.id, from: .cancelled, to: .running)) {
            try store.setJobState(job.id, to: .running, reason: nil, at: t0 + 2)
        }
        #expect(try store.job(job.id)?.state == .cancelled)
        #expect(try store.events(job: job.id).count == 2)
    }

    @Test func jobIdsAreUniqueAcrossNames() throws {
        let store = try RingmasterStore.inMemory()
        let a = try store.submitJob(demoSpec(name: "a"), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        let b = try store.submitJob(demoSpec(name: "b"), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        let a2 = try store.submitJob(demoSpec(name: "a"), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        #expect([a.id, b.id, a2.id] == ["a-1", "b-2", "a-3"])
        #expect(try store.jobs().map(\.id) == ["a-3", "b-2", "a-1"])
    }

    @Test func aFailingStepRollsBackTheWholeTransaction() throws {
        let store = try RingmasterStore.inMemory()
        let job = try store.submitJob(demoSpec(), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        // The placement names nodes that were never registered: nothing of the attempt may remain.
        #expect(throws: StoreError.placementNodesUnknown(["local-0", "local-1"])) {
            try store.startAttempt(job.id, placement: demoPlacement(), token: .generate(), resumeStep: nil, at: t0)
        }
        #expect(try store.attempts(of: job.id).isEmpty)
        #expect(try store.job(job.id)?.state == .pending)
        // A malformed event kind in a batch rejects the whole batch.
        let good = EventRecord(time: t0, kind: .jobState, message: "ok")
        let bad = EventRecord(time: t0, kind: EventKind(rawValue: "Bad Kind"), message: "no")
        #expect(throws: StoreError.malformedEventKind("Bad Kind")) { try store.recordEvents([good, bad]) }
        #expect(try store.eventCount() == 1)
    }

    @Test func schemaConstraintsRejectBadRowsEvenWithoutTheStoreMethods() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in try db.execute(sql: StoreSchemaProbe.v1) }
        try queue.write { db in
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO node (id, host, state, registeredAt, stateChangedAt) VALUES ('a', 'h', 'happy', 'x', 'x')")
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO event (time, kind, message, jobId) VALUES ('x', 'job.state', 'm', 'no-such-job')")
            }
        }
    }

    @Test func checkpointsCommitAndCorrupt() throws {
        let store = try RingmasterStore.inMemory()
        for n in demoNodes() { try store.registerNode(n, at: t0) }
        let job = try store.submitJob(demoSpec(), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        let attempt = try store.startAttempt(job.id, placement: demoPlacement(), token: .generate(), resumeStep: nil, at: t0)
        try store.commitCheckpoint(job: job.id, attempt: attempt.id!, step: 10, dir: "/c/step-10", at: t0 + 1)
        try store.commitCheckpoint(job: job.id, attempt: attempt.id!, step: 20, dir: "/c/step-20", at: t0 + 2)
        #expect(try store.newestCommittedCheckpoint(of: job.id)?.step == 20)
        try store.markCheckpointCorrupt(job: job.id, step: 20, reason: "rank 1 shard sha256 mismatch", at: t0 + 3)
        #expect(try store.newestCommittedCheckpoint(of: job.id)?.step == 10)
        #expect(try store.checkpoints(of: job.id).map(\.state) == [.corrupt, .committed])
    }

    /// The job list's one read gives each job the same facts as reading it alone (the per-job queries it replaced).
    @Test func theListOfEveryJobHasEachJobsOwnFactsAndTheCountsAddUp() throws {
        let store = try RingmasterStore.inMemory()
        for n in demoNodes() { try store.registerNode(n, at: t0) }
        var ids: [JobID] = []
        for k in 0..<5 {
            let job = try store.submitJob(demoSpec(name: "j\(k)"), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
            ids.append(job.id)
            // Job k has k attempts; attempt a reaches step 10·a on rank 1 (rank 0 none); every other job commits step 5.
            for a in 0..<k {
                let attempt = try store.startAttempt(job.id, placement: demoPlacement(), token: .generate(), resumeStep: nil, at: t0)
                if a > 0 { try store.recordRankSteps(attempt: attempt.id!, steps: [1: 10 * a], at: t0 + 1) }
                if k % 2 == 0 { try store.commitCheckpoint(job: job.id, attempt: attempt.id!, step: 5 + a, dir: "/c/\(a)", at: t0 + 2) }
                _ = try store.finishAttempt(attempt.id!, as: .failed, reason: "test", at: t0 + 3)
            }
        }
        try store.setJobState(ids[0], to: .cancelled, reason: "test", at: t0 + 4)
        let listed = try store.jobsWithFacts()
        #expect(listed.map(\.job.id) == ids.reversed())
        for (job, facts) in listed { #expect(facts == (try store.facts(of: job.id)), "\(job.id)") }
        let four = try #require(listed.first { $0.job.id == ids[4] }?.facts)
        #expect(four.attempts.map(\.number) == [1, 2, 3, 4])
        #expect(four.attempts.map { four.reached[$0.id] } == [nil, 10, 20, 30])
        #expect(four.newestCommittedStep == 8)
        #expect(listed.first { $0.job.id == ids[3] }?.facts.newestCommittedStep == nil)
        #expect(listed.first { $0.job.id == ids[0] }?.facts == JobFacts())
        let counts = try store.jobCounts()
        #expect(counts.byState == Dictionary(grouping: listed, by: \.job.state).mapValues(\.count))
        #expect(counts.byState[.cancelled] == 1 && counts.byState.values.reduce(0, +) == 5)
        #expect(counts.restarts == listed.map(\.job.restarts).reduce(0, +) && counts.restarts > 0)
    }
}
