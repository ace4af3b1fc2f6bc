#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RingmasterModel

// In-process rejoin (README "PyTorch": warm recovery): when a rank of a job that allows it fails, the
// controller asks the attempt's surviving ranks to abandon their step instead of stopping them; each one
// answers with the step it holds (`held`), and the next attempt adopts them (`rejoin`) beside the ranks
// started in place of the lost ones.

/// Asks one rank to abandon its step (the agent relays `abandon ATTEMPT DEADLINE_MS` to the rank's report
/// socket): the rank's collectives raise, it leaves its process groups, answers `held STEP DIGEST` and waits
/// up to the deadline for a `rejoin`.
public struct AbandonRequest: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var deadlineMilliseconds: Int

    public init(rank: RankRef, deadlineMilliseconds: Int) {
        self.rank = rank
        self.deadlineMilliseconds = deadlineMilliseconds
    }
}

/// Moves a live rank that abandoned its step into the next attempt: the agent files it under `to` (its
/// reports, output and exit are then the new attempt's), answers `started` for it and relays `rejoin` with
/// `env` — the rank environment of the new attempt that differs from the launch's (attempt, token,
/// rendezvous, master port, resume step and source) — to the rank. A rank that is gone answers `exited`
/// under `to`, with an error.
public struct RejoinRequest: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var to: RankRef
    public var env: [String: String]

    public init(rank: RankRef, to: RankRef, env: [String: String]) {
        self.rank = rank
        self.to = to
        self.env = env
    }

    /// The datagram relayed to the rank: `rejoin` then one `KEY=VALUE` line per variable, sorted.
    public var line: String {
        (["rejoin"] + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: "\n")
    }
}

/// `held STEP DIGEST`: a rank that abandoned its step holds the state after STEP completed steps in memory;
/// DIGEST (hex) identifies it, so data-parallel replicas can be seen to agree.
public struct RankHeld: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var step: Int
    public var digest: String

    public init(rank: RankRef, step: Int, digest: String) {
        self.rank = rank
        self.step = step
        self.digest = digest
    }
}
