import Foundation

/// A job as `squeue --json` describes it.
public struct SlurmJobStatus: Hashable, Sendable {
    public var id: String
    /// `PENDING`, `RUNNING`, `COMPLETING`, `CANCELLED`, …
    public var state: String
    /// Why it is pending (`Resources`, `Priority`, …); `None` when running.
    public var reason: String
    /// Its nodes in allocation order (empty while pending).
    public var nodes: [String]

    public init(id: String, state: String, reason: String, nodes: [String]) {
        self.id = id
        self.state = state
        self.reason = reason
        self.nodes = nodes
    }

    public var isPending: Bool { ["PENDING", "CONFIGURING", "REQUEUED", "RESIZING"].contains(state) }
    /// `SIGNALING` is a running job Slurm is delivering a signal to (the `--signal` time-limit warning):
    /// `squeue --json` names that flag instead of the base state while it lasts.
    public var isRunning: Bool { state == "RUNNING" || state == "SIGNALING" }
}

/// A node as `sinfo --json` describes it.
public struct SlurmNodeStatus: Hashable, Sendable {
    public var name: String
    public var address: String?
    /// `idle`, `allocated`, `mixed`, `down`, …
    public var state: String
    /// `NOT_RESPONDING`, `DRAIN`, …
    public var flags: [String]

    public init(name: String, address: String? = nil, state: String, flags: [String] = []) {
        self.name = name
        self.address = address
        self.state = state
        self.flags = flags
    }

    /// Why a node in use counts as lost (nil while it is healthy).
    public var failure: String? {
        let bad = flags.filter { ["NOT_RESPONDING", "DRAIN", "FAIL", "POWERED_DOWN", "POWERING_DOWN"].contains($0) }
        if let flag = bad.first { return "Slurm reports \(name) \(flag.lowercased().replacingOccurrences(of: "_", with: " "))" }
        if ["down", "fail", "error", "future", "unknown"].contains(state.lowercased()) { return "Slurm reports \(name) \(state.lowercased())" }
        return nil
    }
}

/// Parsers of the Slurm commands' machine-readable output.
public enum SlurmOutput {
    public struct Unreadable: Error, CustomStringConvertible {
        public var command: String
        public var detail: String
        public var description: String { "cannot read the output of \(command): \(detail)" }
    }

    /// `sbatch --parsable`: `JOBID` or `JOBID;CLUSTER`.
    public static func submittedJob(_ text: String) throws(Unreadable) -> String {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        let id = line.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw Unreadable(command: "sbatch --parsable", detail: "expected a job id, got `\(text.prefix(200))`")
        }
        return id
    }

    private struct Queue: Decodable {
        struct Job: Decodable {
            struct Resources: Decodable {
                struct Node: Decodable { var nodename: String }
                var allocated_nodes: [Node]?
            }
            var job_id: Int
            var job_state: String
            var state_reason: String?
            var job_resources: Resources?
        }
        var jobs: [Job]
    }

    private struct Nodes: Decodable {
        struct Node: Decodable {
            var name: String
            var address: String?
            var state: String
            var state_flags: [String]?
        }
        var nodes: [Node]
    }

    /// `squeue --json`: every job, by id.
    public static func jobs(_ text: String) throws(Unreadable) -> [String: SlurmJobStatus] {
        do {
            let queue = try JSONDecoder().decode(Queue.self, from: Data(text.utf8))
            return Dictionary(queue.jobs.map { j in
                (String(j.job_id), SlurmJobStatus(id: String(j.job_id), state: j.job_state, reason: j.state_reason ?? "None",
                                                  nodes: j.job_resources?.allocated_nodes?.map(\.nodename) ?? []))
            }, uniquingKeysWith: { a, _ in a })
        } catch {
            throw Unreadable(command: "squeue --json", detail: "\(error)")
        }
    }

    /// `sinfo --json`: every node, by name.
    public static func nodes(_ text: String) throws(Unreadable) -> [String: SlurmNodeStatus] {
        do {
            let nodes = try JSONDecoder().decode(Nodes.self, from: Data(text.utf8))
            return Dictionary(nodes.nodes.map {
                ($0.name, SlurmNodeStatus(name: $0.name, address: $0.address, state: $0.state, flags: $0.state_flags ?? []))
            }, uniquingKeysWith: { a, _ in a })
        } catch {
            throw Unreadable(command: "sinfo --json", detail: "\(error)")
        }
    }

    /// `scontrol show hostnames`: one name a line.
    public static func hostnames(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
