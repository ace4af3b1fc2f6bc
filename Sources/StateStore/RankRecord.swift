import Foundation
import GRDB
import RingmasterModel

/// A row of `rank`: one rank process of an attempt.
public struct RankRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "rank"

    public var attemptId: Int64
    public var rank: Int
    public var nodeId: NodeID
    public var localRank: Int
    public var state: RankState
    public var pid: Int32?
    public var exitStatus: Int32?
    public var exitSignal: Int32?
    public var lastStep: Int?
    public var updatedAt: Date
}
