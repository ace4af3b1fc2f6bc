import Foundation
import Synchronization
import RingmasterTestKit
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// What a namespace cluster has made so far — namespaces and sshds, recorded as each one is made — and
/// their removal: used by `destroy()` and by a `create` that fails part way, so both remove exactly that.
final class NetnsTeardown: Sendable {
    private let namespaces = Mutex<[String]>([])
    private let servers = Mutex<[SSHDServer]>([])

    func made(namespace: String) { namespaces.withLock { $0.append(namespace) } }
    func made(server: SSHDServer) { servers.withLock { $0.append(server) } }

    /// Kills every process in each namespace (and waits, at most 10 s, until none is left), deletes the
    /// namespaces, and reaps the sshds started here. Returns what could not be removed, each naming the
    /// namespace: empty when everything went.
    func removeAll() async -> [String] {
        let namespaces = self.namespaces.withLock { $0 }
        let problems = (try? await mapConcurrently(namespaces, limit: 16) { await Self.remove($0) }) ?? []
        for server in servers.withLock({ $0 }) { await server.stop() }
        return problems.compactMap { $0 }
    }

    private static func remove(_ ns: String) async -> String? {
        var survivors: [pid_t] = []
        let deadline = ContinuousClock.now + .seconds(10)
        repeat {
            await NetnsCluster.killAll(inNamespace: ns)
            survivors = await NetnsCluster.pids(inNamespace: ns).filter(processIsAlive)
        } while !survivors.isEmpty && ContinuousClock.now < deadline
        let deleted = try? await ChildProcess.run(["ip", "netns", "del", ns], mergeStderr: true)
        if !survivors.isEmpty { return "namespace \(ns): processes \(survivors) still running after SIGKILL" }
        if FileManager.default.fileExists(atPath: "/run/netns/\(ns)") {
            return "namespace \(ns) not deleted: \(deleted?.output ?? "ip netns del did not run")"
        }
        return nil
    }
}
