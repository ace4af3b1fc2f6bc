import ControllerAPI
import Foundation
import RingmasterModel
import Testing

@testable import Controller

/// The cached node list is, byte for byte, the list encoded whole, however its nodes change between answers.
@Suite struct EncodedViewCacheTests {
    func view(_ i: Int, state: NodeState = .ready, ranks: Int = 0) -> NodeView {
        NodeView(id: "n\(i)", host: "h\(i)", spare: i == 0, state: state, reason: nil, since: Date(timeIntervalSince1970: 1_800_000_000),
                 accelerators: Accelerator.simulated(count: 2, node: "n\(i)"), cpus: 4, memoryBytes: 1 << 30, ranks: ranks)
    }

    @Test func theJoinedPiecesAreTheWholeArraysEncoding() throws {
        let cache = EncodedViewCache<NodeView>()
        var views = (0..<20).map { view($0) }
        for round in 0..<4 {
            if round == 1 { views[3] = view(3, state: .lost) }
            if round == 2 { views.remove(at: 5); views.append(view(99, ranks: 8)) }
            if round == 3 { views = [] }
            let cached = try cache.array(views, key: \.id)
            #expect(cached == (try APICoding.encoder().encode(views)), "round \(round)")
            #expect(try APICoding.decoder().decode([NodeView].self, from: cached) == views)
        }
    }
}
