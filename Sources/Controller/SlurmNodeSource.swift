import ControllerAPI
import Foundation
import Logging
import RingmasterModel
import ServiceLifecycle
import SlurmNodes
import StateStore
import SystemUtilities

/// The controller's side of a `slurm:` inventory: the allocation (holder jobs under
/// `STATE_DIR/slurm/`), where ranks reach this controller, and the service that starts the allocation
/// first and cancels it last (after the agents are shut down).
struct SlurmNodeSource: Sendable {
    let allocation: SlurmAllocation
    let rendezvousHost: String
    let existing: (job: String, hosts: [String])?

    /// The node source of a `slurm:` inventory (nil for others); what it does is logged and recorded as
    /// `slurm.allocation` events.
    static func make(_ inventory: ClusterInventory, stateDirectory: StateDirectory, store: RingmasterStore, logger: Logger) async throws
        -> SlurmNodeSource?
    {
        guard let settings = inventory.slurm else { return nil }
        let allocation = SlurmAllocation(
            settings: settings, slots: inventory.nodes.map(\.id), directory: stateDirectory.path + "/slurm",
            jobName: "ringmaster-\(inventory.name)",
            note: { text in
                logger.notice("slurm: \(text)")
                do { _ = try store.recordEvent(EventRecord(time: Date(), kind: .slurmAllocation, message: text)) } catch {
                    logger.error("recording a slurm.allocation event failed: \(error)")
                }
            })
        let (existing, host) = try await onDedicatedThread(name: "slurm start") {
            () throws -> ((job: String, hosts: [String])?, String) in
            let existing = settings.existingAllocation ? try SlurmAllocation.enclosingAllocation() : nil
            return (existing, Self.addressTowardController())
        }
        return SlurmNodeSource(allocation: allocation, rendezvousHost: host, existing: existing)
    }

    /// This machine's address on the route to slurmctld (compute nodes reach it there); this host's name
    /// when it cannot be told. Blocking.
    static func addressTowardController() -> String {
        if let (status, output) = try? POSIX.capture(["scontrol", "show", "config"], mergeStderr: false, timeout: .seconds(60)),
           status == .exited(0),
           let line = output.split(separator: "\n").first(where: { $0.hasPrefix("SlurmctldHost[0]") }),
           let value = line.split(separator: "=", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces)
        {
            // `name(address)` or `name`.
            let target = value.firstIndex(of: "(").map { String(value[value.index(after: $0)...].dropLast()) } ?? value
            if let local = NetworkAddress.local(toward: target) { return local }
        }
        return ProcessInfo.processInfo.hostName
    }

    /// The address of the Slurm node a slot is bound to now.
    var nodeAddress: @Sendable (NodeID) -> String? {
        { [allocation] slot in
            guard case .success(let b) = allocation.binding(for: slot) else { return nil }
            return b.address ?? b.host
        }
    }

    /// The Slurm node a slot is bound to now.
    var nodeHost: @Sendable (NodeID) -> String? {
        { [allocation] slot in
            guard case .success(let b) = allocation.binding(for: slot) else { return nil }
            return b.host
        }
    }

    /// The runner's word that expiring slots hold no attempt any more.
    var vacated: @Sendable ([NodeID]) -> Void {
        { [allocation] slots in allocation.vacated(slots) }
    }

    /// The fault manager's quarantine (true) or an operator's release (false) of a slot.
    var quarantined: @Sendable (NodeID, Bool) -> Void {
        { [allocation] slot, quarantined in allocation.quarantine(slot, quarantined) }
    }

    var service: SlurmService { SlurmService(source: self) }
}

/// Starts the allocation (submit or re-attach) before the agents come up; on shutdown, after the agents
/// have stopped, cancels the holder jobs this controller submitted.
struct SlurmService: Service {
    let source: SlurmNodeSource
    func run() async throws {
        try source.allocation.start(existing: source.existing)
        try? await gracefulShutdown()
        await source.allocation.stop()
    }
}
