import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import Testing

/// A local cluster file with `nodes` agents of 2 simulated accelerators each.
func localCluster(_ dir: TemporaryDirectory, nodes: Int = 4) throws -> String {
    try dir.write("cluster.yaml", "name: local\nlocal: {nodes: \(nodes), accelerators: 2}\nheartbeat: {interval: 1s, missed: 3}\n")
}

/// The repository's Manifests/ folder.
var manifests: String { BuiltProducts.packageRoot + "/Manifests" }

extension ControllerProcess {
    /// Stops every rank of the job's attempt (SIGSTOP), kills `rank` through chaos and waits for the
    /// failure. The first restart is immediate, but the stopped survivors end only at the SIGKILL after the
    /// grace period (3 s): until then the job is between attempts and its checkpoints are still.
    func failFrozen(_ job: String, rank: Int) async throws {
        for pid in try await detail(job).ranks.compactMap(\.pid) { kill(pid, SIGSTOP) }
        try await chaos(["kill-rank", job, "--rank", "\(rank)"])
        _ = try await waitForEvent(job: job) { $0.kind == "failure.detected" }
    }

    /// `ringmaster chaos ARGS`, which must succeed.
    func chaos(_ args: [String]) async throws {
        let r = try await cli(["chaos"] + args)
        #expect(r.succeeded, "\(r.output)")
    }

    func events(job: String) async throws -> [EventView] {
        try await call { try $0.get("\(APIVersion.prefix)/events?job=\(job)&limit=10000", as: [EventView].self) }
    }
}

/// The HTTP status of a failed call (nil when it succeeded).
func status(of body: @escaping @Sendable () async throws -> Void) async -> Int? {
    do {
        try await body()
        return nil
    } catch let failure as ControllerClient.Failure {
        return failure.status
    } catch {
        return -1
    }
}
