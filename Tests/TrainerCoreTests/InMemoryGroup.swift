import Foundation
import TrainerCore

/// Threads of one process standing in for the ranks of a group: all-reduce sums in member order (so it
/// is deterministic), send/recv go through per-pair mailboxes. A fake of the network edge.
final class GroupHub: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var contributions: [[Float]?]
    private var result: [Float] = []
    private var arrived = 0
    private var generation = 0
    private var departed = 0
    private var mailboxes: [Int: [[Float]]] = [:]

    init(size: Int) {
        self.size = size
        contributions = Array(repeating: nil, count: size)
    }

    func member(_ rank: Int) -> HubMember { HubMember(hub: self, rank: rank) }

    func allReduce(_ buffer: inout [Float], rank: Int) {
        condition.lock()
        defer { condition.unlock() }
        let myGeneration = generation
        contributions[rank] = buffer
        arrived += 1
        if arrived == size {
            var sum = contributions[0]!
            for r in 1..<size { for i in sum.indices { sum[i] += contributions[r]![i] } }
            result = sum
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == myGeneration { condition.wait() }
        }
        buffer = result
    }

    func send(_ buffer: [Float], from: Int, to: Int) {
        condition.lock()
        mailboxes[from * size + to, default: []].append(buffer)
        condition.broadcast()
        condition.unlock()
    }

    func recv(_ buffer: inout [Float], from: Int, to: Int) {
        condition.lock()
        defer { condition.unlock() }
        while mailboxes[from * size + to, default: []].isEmpty { condition.wait() }
        buffer = mailboxes[from * size + to]!.removeFirst()
    }
}

final class HubMember: Communicator {
    let hub: GroupHub
    let rank: Int
    var size: Int { hub.size }

    init(hub: GroupHub, rank: Int) {
        self.hub = hub
        self.rank = rank
    }

    func allReduceSum(_ buffer: inout [Float]) throws {
        if size > 1 { hub.allReduce(&buffer, rank: rank) }
    }

    func send(_ buffer: [Float], to peer: Int) throws { hub.send(buffer, from: rank, to: peer) }
    func recv(_ buffer: inout [Float], from peer: Int) throws { hub.recv(&buffer, from: peer, to: rank) }
}
