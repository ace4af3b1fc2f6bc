/// The collective operations the trainer needs from one process group (tensor, data or pipeline).
/// `Collectives.ProcessGroup` provides them; `SoloGroup` is the group of one.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// In-place sum over the group.
    func allReduceSum(_ buffer: inout [Float]) throws
    func send(_ buffer: [Float], to peer: Int) throws
    func recv(_ buffer: inout [Float], from peer: Int) throws
}

/// A group of one: every collective is the identity.
public final class SoloGroup: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: inout [Float]) throws {}
    public func send(_ buffer: [Float], to peer: Int) throws { throw SoloGroupError() }
    public func recv(_ buffer: inout [Float], from peer: Int) throws { throw SoloGroupError() }

    struct SoloGroupError: Error, CustomStringConvertible {
        var description: String { "a group of one has no peer to send to or receive from" }
    }
}

/// The three groups of a rank, from its placement.
public struct RankGroups {
    public var tensor: any Communicator
    public var data: any Communicator
    public var pipeline: any Communicator

    public init(tensor: any Communicator, data: any Communicator, pipeline: any Communicator) {
        self.tensor = tensor
        self.data = data
        self.pipeline = pipeline
    }

    public static var solo: RankGroups { RankGroups(tensor: SoloGroup(), data: SoloGroup(), pipeline: SoloGroup()) }
}
