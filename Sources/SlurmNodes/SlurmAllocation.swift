import Dispatch
import Foundation
import RingmasterModel
import Synchronization
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// The shell of `AllocationCore`: one thread that runs the Slurm commands (`sbatch`, `squeue --json`,
/// `sinfo --json`, `scancel`), feeds their answers and the time back to the core, and performs its
/// actions. The agent transport asks it which node a slot runs on, and hands it the slot's agent steps so
/// that a node Slurm reports lost ends its step.
public final class SlurmAllocation: Sendable {
    public let settings: SlurmSettings
    public let slots: [NodeID]
    /// Where the holder jobs' output goes and the submitted jobs are recorded (owner-only).
    public let directory: String
    public let jobName: String
    public let pollInterval: Duration
    private let note: @Sendable (String) -> Void
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    private struct State {
        var core: AllocationCore
        var steps: [NodeID: PipeStep] = [:]
        /// What the controller reported (slots vacated, quarantined or released), for the thread to hand to the core.
        var reports: [Report] = []
        var onTimeLimit: (@Sendable ([NodeID], String) -> Void)?
        var thread = false
        var stopping = false
        var stopped = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    enum Report: Sendable {
        case vacated([NodeID])
        case quarantine(NodeID, Bool)
    }

    struct PipeStep: Sendable {
        var end: @Sendable (String) -> Void
    }

    private let state: Mutex<State>
    private let wake = DispatchSemaphore(value: 0)

    /// Records of the submitted jobs, read back by the next controller on this state directory.
    public var recordFile: String { "\(directory)/holder-jobs.json" }

    public init(settings: SlurmSettings, slots: [NodeID], directory: String, jobName: String, pollInterval: Duration = .seconds(2),
                note: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.slots = slots
        self.directory = directory
        self.jobName = jobName
        self.pollInterval = pollInterval
        self.note = note
        origin = clock.now
        state = Mutex(State(core: AllocationCore(settings: settings, slots: slots)))
    }

    private var now: Duration { clock.now - origin }

    /// The allocation a controller runs inside (`salloc`, `sbatch`): `SLURM_JOB_ID` and the nodes of
    /// `SLURM_JOB_NODELIST` (expanded by `scontrol show hostnames`). Blocking.
    public static func enclosingAllocation(environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> (job: String, hosts: [String])
    {
        guard let job = environment["SLURM_JOB_ID"], !job.isEmpty else {
            throw SlurmError("SLURM_JOB_ID is not set: `existingAllocation` needs a controller started inside salloc or sbatch")
        }
        guard let list = environment["SLURM_JOB_NODELIST"] ?? environment["SLURM_NODELIST"], !list.isEmpty else {
            throw SlurmError("SLURM_JOB_NODELIST is not set inside Slurm job \(job)")
        }
        let (status, output) = try POSIX.capture(SlurmCommands.hostnames(list), mergeStderr: true, timeout: .seconds(60))
        guard status == .exited(0) else { throw SlurmError("scontrol show hostnames \(list) failed: \(output)") }
        return (job, SlurmOutput.hostnames(output))
    }

    /// Starts the thread: it re-attaches to the jobs recorded by a previous controller, or submits the holder job.
    public func start(existing: (job: String, hosts: [String])? = nil) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let restored = existing == nil ? readRecords() : []
        let actions = state.withLock { s -> [AllocationCore.Action] in
            s.thread = true
            return s.core.start(restored: restored, existing: existing)
        }
        runOnDedicatedThread(name: "slurm allocation") { [self] in loop(first: actions) }
    }

    /// Cancels every job this controller submitted and ends the thread; returns once `scancel` has run.
    public func stop() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if s.stopped || !s.thread { return true }
                s.stopping = true
                s.stopWaiters.append(c)
                return false
            }
            if done { c.resume() } else { wake.signal() }
        }
    }

    /// The slot's node, or why it has none yet.
    public func binding(for slot: NodeID) -> Result<SlotBinding, SlurmError> {
        state.withLock { s in
            if let b = s.core.bindings[slot] { return .success(b) }
            return .failure(SlurmError(s.core.waiting(slot) ?? "no Slurm node for \(slot)"))
        }
    }

    /// Called (on the allocation's thread) when a holder job's time limit is near on these slots.
    public func onTimeLimit(_ body: @escaping @Sendable ([NodeID], String) -> Void) {
        state.withLock { $0.onTimeLimit = body }
    }

    /// Nothing runs on these expiring slots any more: they move to the successor allocation. Never blocks.
    public func vacated(_ slots: [NodeID]) {
        state.withLock { $0.reports.append(.vacated(slots)) }
        wake.signal()
    }

    /// The fault manager quarantined the slot (true) or an operator released it: its node is excluded from new
    /// holder jobs, or no longer. Never blocks.
    public func quarantine(_ slot: NodeID, _ quarantined: Bool) {
        state.withLock { $0.reports.append(.quarantine(slot, quarantined)) }
        wake.signal()
    }

    /// Jobs known now (for tests and status).
    public var jobs: [HolderJob] { state.withLock { $0.core.jobs } }

    /// The agent step now running for `slot`; `end` is called when Slurm reports its node lost.
    func attach(_ slot: NodeID, end: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.steps[slot] = PipeStep(end: end) }
    }

    // MARK: The thread

    private func loop(first: [AllocationCore.Action]) {
        perform(first)
        var nextPoll = now
        while true {
            let stopping = state.withLock { $0.stopping }
            if stopping { break }
            if now >= nextPoll {
                poll()
                nextPoll = now + pollInterval
            }
            let due = state.withLock { s in s.core.tick(now: now) }
            perform(due)
            perform(state.withLock { s -> [AllocationCore.Action] in
                defer { s.reports = [] }
                return s.reports.flatMap { report in
                    switch report {
                    case .vacated(let slots): s.core.vacated(slots)
                    case .quarantine(let slot, let quarantined): s.core.quarantine(slot, quarantined)
                    }
                }
            })
            let deadline = [nextPoll, state.withLock { $0.core.nextDeadline }].compactMap { $0 }.min()!
            let wait = max(0, (deadline - now).seconds)
            _ = wake.wait(timeout: .now() + .milliseconds(Int(wait * 1000) + 1))
        }
        perform(state.withLock { $0.core.stop() })
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.stopped = true
            defer { s.stopWaiters.removeAll() }
            return s.stopWaiters
        }
        waiters.forEach { $0.resume() }
    }

    private func poll() {
        do {
            let queue = try SlurmOutput.jobs(try run(SlurmCommands.queue))
            let nodes = try SlurmOutput.nodes(try run(SlurmCommands.nodes))
            perform(state.withLock { $0.core.observed(jobs: queue, nodes: nodes) })
            for job in state.withLock({ $0.core.jobs }) where job.submitted && holderWarned(job.id) {
                perform(state.withLock { $0.core.timeLimitSignal(job: job.id) })
            }
        } catch {
            note("cannot read Slurm's state: \(error)")
        }
    }

    /// Runs a Slurm query; its stdout, or an error with what it said.
    private func run(_ argv: [String], stdin: String? = nil) throws -> String {
        let (status, output) = try POSIX.capture(argv, stdin: stdin, mergeStderr: false, limit: 64 << 20, timeout: .seconds(60))
        guard status == .exited(0) else {
            let (_, both) = (try? POSIX.capture(argv, stdin: stdin, mergeStderr: true, limit: 1 << 16, timeout: .seconds(60))) ?? (nil, "")
            throw SlurmError("\(argv.joined(separator: " ")) \(status.map { "ended with \($0)" } ?? "timed out"): \(both.suffix(400))")
        }
        return output
    }

    private func perform(_ actions: [AllocationCore.Action]) {
        for action in actions {
            switch action {
            case .submit(let purpose, let count, let exclude):
                let argv = SlurmCommands.submit(settings, count: count, exclude: exclude, jobName: jobName,
                                                outputFile: "\(directory)/holder-%j.out")
                let answer: [AllocationCore.Action]
                do {
                    let (status, output) = try POSIX.capture(argv, stdin: SlurmCommands.holderScript, mergeStderr: true,
                                                             timeout: .seconds(60))
                    guard status == .exited(0) else {
                        throw SlurmError("sbatch \(status.map { "ended with \($0)" } ?? "timed out"): \(output.suffix(400))")
                    }
                    let id = try SlurmOutput.submittedJob(output)
                    answer = state.withLock { $0.core.submitted(purpose, job: id) }
                } catch {
                    answer = state.withLock { $0.core.submitFailed(purpose, error: "\(error)", now: now) }
                }
                perform(answer)
            case .cancel(let jobs):
                do { _ = try run(SlurmCommands.cancel(jobs)) } catch { note("\(error)") }
            case .lose(let slot, let reason):
                note(reason)
                state.withLock { $0.steps.removeValue(forKey: slot) }?.end(reason)
            case .expiring(let slots, let reason):
                state.withLock { $0.onTimeLimit }?(slots, reason)
            case .note(let text):
                note(text)
            case .persist(let jobs):
                writeRecords(jobs)
            }
        }
    }

    // MARK: Files

    private func holderWarned(_ job: String) -> Bool {
        guard let text = POSIX.readText("\(directory)/holder-\(job).out", limit: 1 << 20) else { return false }
        return text.contains(SlurmCommands.timeLimitMarker)
    }

    private func readRecords() -> [HolderJob] {
        guard let data = FileManager.default.contents(atPath: recordFile) else { return [] }
        return (try? JSONDecoder().decode([HolderJob].self, from: data)) ?? []
    }

    private func writeRecords(_ jobs: [HolderJob]) {
        do {
            let data = try JSONEncoder().encode(jobs)
            let temp = recordFile + ".tmp"
            guard FileManager.default.createFile(atPath: temp, contents: data, attributes: [.posixPermissions: 0o600]) else {
                throw SlurmError("cannot write \(temp)")
            }
            guard rename(temp, recordFile) == 0 else { throw POSIX.Error("rename \(temp)", errno: errno) }
        } catch {
            note("cannot record the holder jobs in \(recordFile): \(error)")
        }
    }
}

/// A Slurm command failed, or a slot has no node yet (with why).
public struct SlurmError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
