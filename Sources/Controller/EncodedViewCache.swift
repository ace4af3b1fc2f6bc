import ControllerAPI
import Foundation
import Synchronization

/// Each element's JSON kept while the element stays the same, so a list of hundreds of nodes (8 accelerators
/// each, 420 KB at 512 nodes) is encoded only where something changed: the array's bytes are the cached
/// pieces joined, byte for byte what encoding the whole array gives (the API's encoder is compact).
final class EncodedViewCache<Value: Encodable & Equatable & Sendable>: Sendable {
    private let entries = Mutex<[String: (value: Value, json: Data)]>([:])

    /// The JSON array of `values`, in order; `key` names each element (its id). Keys not in `values` are forgotten.
    func array(_ values: [Value], key: (Value) -> String) throws -> Data {
        let known = entries.withLock { $0 }
        var fresh: [String: (value: Value, json: Data)] = [:]
        fresh.reserveCapacity(values.count)
        var out = Data("[".utf8)
        let encoder = APICoding.encoder()
        for (i, v) in values.enumerated() {
            let k = key(v)
            let json: Data
            if let hit = known[k], hit.value == v { json = hit.json } else { json = try encoder.encode(v) }
            fresh[k] = (v, json)
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(json)
        }
        out.append(UInt8(ascii: "]"))
        entries.withLock { $0 = fresh }
        return out
    }
}
