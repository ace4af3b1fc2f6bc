import Foundation
import RingmasterModel

/// What a rank process learns from its environment (the design's rank-environment contract):
/// RANK, WORLD_SIZE, RINGMASTER_RENDEZVOUS (host:port), RINGMASTER_TOKEN, RINGMASTER_ATTEMPT,
/// and RINGMASTER_{TP,PP,DP}_{RANK,SIZE}. Pure parsing, so it is tested without processes.
public struct RankEnvironment: Sendable, Equatable {
    public var rank: Int
    public var worldSize: Int
    public var rendezvous: String
    public var token: String
    public var attempt: Int
    public var parallelism: Parallelism

    public init(rank: Int, worldSize: Int, rendezvous: String, token: String, attempt: Int, parallelism: Parallelism) {
        self.rank = rank
        self.worldSize = worldSize
        self.rendezvous = rendezvous
        self.token = token
        self.attempt = attempt
        self.parallelism = parallelism
    }

    public static func parse(_ env: [String: String]) throws(CollectiveError) -> RankEnvironment {
        func int(_ key: String, default value: Int? = nil) throws(CollectiveError) -> Int {
            if let text = env[key], !text.isEmpty {
                guard let v = Int(text) else { throw .invalidArgument("\(key)='\(text)' is not an integer") }
                return v
            }
            if let value { return value }
            throw .invalidArgument("\(key) is not set; ranks must be started by Ringmaster (or set it by hand)")
        }
        let rank = try int("RANK")
        let world = try int("WORLD_SIZE")
        guard let rendezvous = env["RINGMASTER_RENDEZVOUS"], !rendezvous.isEmpty else {
            throw .invalidArgument("RINGMASTER_RENDEZVOUS is not set (host:port of the attempt's rendezvous)")
        }
        guard let token = env["RINGMASTER_TOKEN"], !token.isEmpty else {
            throw .invalidArgument("RINGMASTER_TOKEN is not set (the attempt's secret)")
        }
        let p = Parallelism(data: try int("RINGMASTER_DP_SIZE", default: world),
                            pipeline: try int("RINGMASTER_PP_SIZE", default: 1),
                            tensor: try int("RINGMASTER_TP_SIZE", default: 1))
        guard p.worldSize == world else {
            throw .invalidArgument("RINGMASTER_DP_SIZE × RINGMASTER_PP_SIZE × RINGMASTER_TP_SIZE = \(p.worldSize), but WORLD_SIZE = \(world)")
        }
        guard rank >= 0 && rank < world else { throw .invalidArgument("RANK \(rank) is outside 0..<\(world)") }
        let c = p.coordinates(of: rank)
        for (key, expected) in [("RINGMASTER_TP_RANK", c.tp), ("RINGMASTER_DP_RANK", c.dp), ("RINGMASTER_PP_RANK", c.pp)] {
            let v = try int(key, default: expected)
            guard v == expected else {
                throw .invalidArgument("\(key)=\(v) disagrees with RANK \(rank) in Megatron order (expected \(expected))")
            }
        }
        return RankEnvironment(rank: rank, worldSize: world, rendezvous: rendezvous, token: token,
                               attempt: try int("RINGMASTER_ATTEMPT", default: 1), parallelism: p)
    }
}

/// The world group of a rank and its tensor, data and pipeline sub-groups.
public struct ParallelGroups: Sendable {
    public let world: ProcessGroup
    public let tensor: ProcessGroup
    public let data: ProcessGroup
    public let pipeline: ProcessGroup
    public let parallelism: Parallelism
    public var coordinates: RankCoordinates { parallelism.coordinates(of: world.rank) }

    public init(world: ProcessGroup, parallelism: Parallelism) throws(CollectiveError) {
        self.world = world
        self.parallelism = parallelism
        tensor = try world.tensorGroup(parallelism)
        data = try world.dataGroup(parallelism)
        pipeline = try world.pipelineGroup(parallelism)
    }
}

extension ProcessGroup {
    /// Joins the attempt described by the rank environment and builds the tensor, data and
    /// pipeline groups (no extra rendezvous: each sub-group connects on first use).
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment,
                                       options: GroupOptions = GroupOptions()) throws(CollectiveError) -> ParallelGroups {
        let e = try RankEnvironment.parse(env)
        let world = try join(rank: e.rank, worldSize: e.worldSize, attempt: e.attempt, token: e.token,
                             rendezvous: try TCPRendezvous(address: e.rendezvous), options: options)
        return try ParallelGroups(world: world, parallelism: e.parallelism)
    }
}
