import Foundation
import SSHNodes

/// One round of deployments as printed lines: each host's phases, then the slowest and the median of each
/// phase over the hosts (where discovery's time went: the slowest host's sum is the round's floor).
struct DeploymentReport {
    var title: String
    var deployments: [AgentDeployment]

    static var phases: [(String, (AgentDeployment) -> Double)] {
        [
            ("handshake", { $0.connectTimings.handshake }), ("host key", { $0.connectTimings.hostKeyCheck }),
            ("auth", { $0.connectTimings.authentication }), ("probe", \.probeSeconds), ("upload", \.uploadSeconds),
            ("start→hello", \.startSeconds),
        ]
    }

    var lines: [String] {
        var out = deployments.sorted { $0.node.rawValue.localizedStandardCompare($1.node.rawValue) == .orderedAscending }.map { d in
            let parts = Self.phases.map { String(format: "%@ %.3f", $0.0, $0.1(d)) }.joined(separator: ", ")
            return "\(title) \(d.node): \(d.uploaded ? "uploaded \(d.bytes) bytes" : "agent current"); \(parts) s"
        }
        let summary = Self.phases.map { name, phase in
            let values = deployments.map(phase).sorted()
            let median = values.isEmpty ? 0 : values[values.count / 2]
            return String(format: "%@ %.3f / %.3f", name, values.last ?? 0, median)
        }.joined(separator: ", ")
        out.append("\(title) slowest / median over \(deployments.count) hosts: \(summary) s")
        return out
    }
}
