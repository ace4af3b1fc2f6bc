import Collectives
import TrainerCore

/// A `Collectives.ProcessGroup` as the trainer's `Communicator`.
final class CollectivesCommunicator: Communicator {
    let group: ProcessGroup

    init(_ group: ProcessGroup) { self.group = group }

    var rank: Int { group.rank }
    var size: Int { group.size }

    func allReduceSum(_ buffer: inout [Float]) throws {
        if group.size > 1 { try group.allReduce(&buffer, op: .sum) }
    }

    func send(_ buffer: [Float], to peer: Int) throws { try group.send(buffer, to: peer) }
    func recv(_ buffer: inout [Float], from peer: Int) throws { try group.recv(&buffer, from: peer) }
}
