import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import Synchronization
import SystemUtilities
import Testing

/// A thousand jobs submitted at once to a controller whose two nodes a blocker holds: every one is
/// accepted, listed and kept pending with the runner's reason, while reads stay correct and, through 96
/// listings of them at once, the blocker's step reports keep reaching the runner (no false hang); cancel
/// works on the queue, a `kill -9` of the controller loses none of them (nor any event), and once the
/// blocker is cancelled the queue runs oldest first. Only correctness is asserted: the waits are limits,
/// not measurements.
@Suite(.serialized, .timeLimit(.minutes(5))) struct QueueLoadTests {
    static let queued = 1000
    /// Clients submitting at once (each its own connection per request).
    static let submitters = 8
    /// Every `cancelEvery`-th queued job is cancelled before the restart.
    static let cancelEvery = 10
    /// Queued jobs left to run after the restart (the oldest; the rest are cancelled).
    static let kept = 30
    /// Job lists asked for at once.
    static let listings = 96

    @Test func aThousandQueuedJobsAreKeptListedCancelledAndRunOldestFirstAcrossARestart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try localCluster(dir, nodes: 2)
        let state = dir.file("state")
        let first = try await ControllerProcess.start(cluster: cluster, stateDirectory: state)
        try await first.waitForReadyNodes(2)
        // The blocker takes both nodes (4 ranks, 2 accelerators each; every queued job needs one node) and
        // reports a step every 0.1 s: a report held up for its stall timeout (5 s, 50 steps) would be a hang.
        let script = try dir.write("steps.py", """
            import time, ringmaster
            n = 0
            while True:
                n += 1
                ringmaster.step(n)
                time.sleep(0.1)
            """)
        let blocker = try await first.submit(try dir.write("blocker.yaml", """
            name: blocker
            command: [python3, \(script)]
            env: {PYTHONPATH: \(BuiltProducts.packageRoot)/python}
            parallelism: {data: 4}
            failure: {maxRestarts: 3, stallTimeout: 5s}
            """))
        try await first.waitForStepping(blocker.id, attempt: 1)
        let quick = SubmitRequest(manifest: "name: q\ncommand: [\"true\"]\nparallelism: {data: 2}\n", path: dir.file("q.yaml"))
        let ids = (2...Self.queued + 1).map { "q-\($0)" }  // the blocker is seq 1

        // 1. All at once from 8 clients, while another reads the nodes and the blocker and finds them right.
        let submitting = Reads(first, blocker: blocker.id)
        let submitted = try await withThrowingTaskGroup(of: [JobView].self) { group in
            for _ in 0..<Self.submitters {
                group.addTask {
                    try await first.call { c in
                        try (0..<Self.queued / Self.submitters).map { _ in try c.post("/v1/jobs", body: quick, as: JobView.self) }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let reads = try await submitting.stop()
        #expect(reads > 0)
        #expect(submitted.count == Self.queued && submitted.allSatisfy { $0.state == .pending })
        #expect(Set(submitted.map(\.id)) == Set(ids))

        // 2. Listed newest first; each one's reason becomes the runner's (it has seen every submission).
        try await eventually("every queued job waiting for nodes", within: .seconds(120), every: .milliseconds(500)) {
            let jobs = try await first.call { try $0.get("\(APIVersion.prefix)/jobs", as: [JobView].self) }
            #expect(jobs.map(\.id) == ids.reversed() + [blocker.id])
            return jobs.dropLast().allSatisfy { $0.state == .pending && $0.reason?.hasPrefix("waiting for nodes: ") == true }
        }
        let waiting = try #require(try await first.detail(ids[0]).job.reason)
        #expect(waiting.contains("(0 free ready nodes)"), "\(waiting)")
        // 96 listings of the 1,001 jobs at once, the heaviest read there is. The API's blocking work runs on
        // threads of its own: the agents' messages still reach the runner in time (when it ran on the
        // cooperative pool, eight clients listing a thousand jobs beside a training job held step reports
        // back past an auto stall timeout; README, "Measured").
        let listed = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<Self.listings {
                group.addTask { try await first.call { try $0.call("GET", "\(APIVersion.prefix)/jobs").count } }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(listed.count == Self.listings && listed.allSatisfy { $0 > 0 })
        // Through all of it the blocker's steps reached the runner within its stall timeout.
        let failures = try await first.events(job: blocker.id).filter { $0.kind == "failure.detected" }
        #expect(failures.isEmpty, "\(failures.map(\.message))")

        // 3. Cancel every 10th, then all but the oldest 30 left, 4 clients at once: each is cancelled at once.
        let cancelled = stride(from: 0, to: Self.queued, by: Self.cancelEvery).map { ids[$0] }
        let answers = try await cancel(cancelled, on: first)
        #expect(answers.count == cancelled.count && answers.allSatisfy { $0.state == .cancelled })
        let queue = ids.filter { !Set(cancelled).contains($0) }
        let (kept, dropped) = (Array(queue.prefix(Self.kept)), Array(queue.dropFirst(Self.kept)))
        #expect(try await cancel(dropped, on: first).allSatisfy { $0.state == .cancelled })
        let before = try await allEvents(first)
        #expect(before.filter { $0.kind == "job.submitted" }.count == Self.queued + 1)

        // 4. kill -9; the next controller has every job and every event.
        await first.kill9()
        let second = try await ControllerProcess.start(cluster: cluster, stateDirectory: state)
        let after = try await allEvents(second)
        #expect(Array(after.prefix(before.count)) == before, "events were lost or changed across the restart")
        let jobs = try await second.call { try $0.get("\(APIVersion.prefix)/jobs", as: [JobView].self) }
        #expect(jobs.map(\.id) == ids.reversed() + [blocker.id])
        let keptSet = Set(kept)
        for job in jobs where job.name == "q" && !keptSet.contains(job.id) { #expect(job.state == .cancelled, "\(job.id) \(job.state)") }

        // 5. Cancel the blocker: the 30 run, oldest first (those that started on the first node to come back
        // before the blocker could have both included: each needs one node, so there is nothing to reorder).
        let stopped = try await second.call { try $0.post("\(APIVersion.prefix)/jobs/\(blocker.id)/cancel", body: [String: String](), as: JobView.self) }
        #expect(stopped.state == .cancelled)
        // Each one's end: two run at once, so the newest can end before the one beside it.
        for id in kept {
            let ended = try await second.waitForJob(id, within: .seconds(180))
            #expect(ended.state == .succeeded, "\(id): \(ended.reason ?? "")")
        }
        let final = try await second.call { try $0.get("\(APIVersion.prefix)/jobs", as: [JobView].self) }
        #expect(final.filter { $0.state == .succeeded }.map(\.id) == kept.reversed())
        #expect(final.filter { $0.state == .cancelled }.count == Self.queued - Self.kept + 1)
        // Started in submission order, none of the cancelled.
        let started = try await allEvents(second).filter { $0.kind == "attempt.started" && $0.job?.hasPrefix("q-") == true }
        #expect(started.compactMap(\.job) == kept)
        #expect(await second.stop() == 0)
    }

    /// Cancels `ids` from 4 clients at once; the answers.
    private func cancel(_ ids: [String], on controller: ControllerProcess) async throws -> [JobView] {
        let clients = 4
        return try await withThrowingTaskGroup(of: [JobView].self) { group in
            for k in 0..<clients {
                let mine = stride(from: k, to: ids.count, by: clients).map { ids[$0] }
                group.addTask {
                    try await controller.call { c in
                        try mine.map { try c.post("\(APIVersion.prefix)/jobs/\($0)/cancel", body: [String: String](), as: JobView.self) }
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// Every event, oldest first, a page of 10,000 at a time.
    private func allEvents(_ controller: ControllerProcess) async throws -> [EventView] {
        try await controller.call { c in
            var all: [EventView] = []
            while true {
                let page = try c.get("\(APIVersion.prefix)/events?after=\(all.last?.id ?? 0)&limit=10000", as: [EventView].self)
                all += page
                if page.count < 10000 { return all }
            }
        }
    }
}

/// Reads `/v1/nodes` and the blocker's ranks in a loop on a thread of its own, checking each answer,
/// until stopped; `stop` returns how many rounds were read (or the first wrong answer as an error).
private final class Reads: Sendable {
    private final class State: Sendable {
        let value = Mutex<(stop: Bool, rounds: Int, error: String?)>((false, 0, nil))
    }

    private let state = State()
    private let done: Task<Void, any Error>

    struct Wrong: Error, CustomStringConvertible { var description: String }

    init(_ controller: ControllerProcess, blocker: String) {
        let state = self.state
        done = Task {
            try await controller.call { c in
                while !state.value.withLock({ $0.stop }) {
                    let nodes = try c.get("\(APIVersion.prefix)/nodes", as: [NodeView].self)
                    let ranks = try c.get("\(APIVersion.prefix)/jobs/\(blocker)/ranks", as: [RankView].self)
                    if nodes.map(\.ranks) != [2, 2] || !nodes.allSatisfy({ $0.state == .ready }) || ranks.count != 4 {
                        state.value.withLock {
                            $0.error = "nodes \(nodes.map { "\($0.id) \($0.state) \($0.ranks)" }), \(ranks.count) blocker ranks"
                        }
                        return
                    }
                    state.value.withLock { $0.rounds += 1 }
                }
            }
        }
    }

    func stop() async throws -> Int {
        state.value.withLock { $0.stop = true }
        try await done.value
        let (rounds, error) = state.value.withLock { ($0.rounds, $0.error) }
        if let error { throw Wrong(description: error) }
        return rounds
    }
}
