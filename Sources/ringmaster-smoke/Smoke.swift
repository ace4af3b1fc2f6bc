import Checkpointing
import Collectives
import Foundation

/// `ringmaster-smoke [STEPS]`: proves the rank contract with Ringmaster's own collectives. Every step,
/// each rank all-reduces known values over the world and over its tensor, data and pipeline groups
/// (joined through the attempt's rendezvous from the rank environment), checks the sums, and reports
/// `step N` and `metric loss` on RINGMASTER_CONTROL. Exit 0 when every sum was right, 1 otherwise.
@main
struct Smoke {
    static func main() {
        let env = ProcessInfo.processInfo.environment
        let steps = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 5
        func int(_ key: String) -> Int {
            guard let v = env[key].flatMap({ Int($0) }) else {
                fail("environment variable \(key) is missing or not a number — run under `ringmaster submit`")
            }
            return v
        }
        let (rank, world) = (int("RANK"), int("WORLD_SIZE"))
        let (tp, tpSize) = (int("RINGMASTER_TP_RANK"), int("RINGMASTER_TP_SIZE"))
        let (dp, dpSize) = (int("RINGMASTER_DP_RANK"), int("RINGMASTER_DP_SIZE"))
        let (pp, ppSize) = (int("RINGMASTER_PP_RANK"), int("RINGMASTER_PP_SIZE"))
        guard rank == tp + tpSize * (dp + dpSize * pp), world == tpSize * dpSize * ppSize else {
            fail("RANK \(rank) is not tp + T·(dp + D·pp) for tp \(tp) dp \(dp) pp \(pp) of \(tpSize)×\(dpSize)×\(ppSize)")
        }
        // Megatron order: tensor fastest, then data, then pipeline.
        func worldRank(t: Int, d: Int, p: Int) -> Int { t + tpSize * (d + dpSize * p) }
        let members: [(String, [Int])] = [
            ("tensor", (0..<tpSize).map { worldRank(t: $0, d: dp, p: pp) }),
            ("data", (0..<dpSize).map { worldRank(t: tp, d: $0, p: pp) }),
            ("pipeline", (0..<ppSize).map { worldRank(t: tp, d: dp, p: $0) }),
        ]
        let groups: ParallelGroups
        do { groups = try ProcessGroup.fromEnvironment(env) } catch { fail("joining the rendezvous failed: \(error)") }
        let reporter = RankReporter.fromEnvironment(env)
        let subgroups = [groups.tensor, groups.data, groups.pipeline]
        for step in 1...max(steps, 1) {
            do {
                // World: rank r sends r + step in every element; the sum is Σr + world·step.
                var values = [Double](repeating: Double(rank + step), count: 4099)
                try groups.world.allReduce(&values)
                check("world", values, Double(world * (world - 1) / 2 + world * step))
                // Each sub-group: the members' world ranks, summed (Int64, an odd count).
                for (i, group) in subgroups.enumerated() {
                    var ints = [Int64](repeating: Int64(rank * 1000 + step), count: 257)
                    try group.allReduce(&ints)
                    let expected = Int64(members[i].1.reduce(0) { $0 + $1 * 1000 + step })
                    check(members[i].0, ints.map(Double.init), Double(expected))
                }
            } catch {
                fail("step \(step): collective failed: \(error)")
            }
            reporter?.step(step)
            reporter?.metric("loss", 1.0 / Double(step))
        }
        let layout = members.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
        print("rank \(rank)/\(world): all-reduce over the world and \(layout) correct for \(steps) steps")
    }

    static func check(_ group: String, _ values: [Double], _ expected: Double) {
        guard let wrong = values.first(where: { $0 != expected }) else { return }
        fail("all-reduce over the \(group) group gave \(wrong), expected \(expected)")
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("ringmaster-smoke: \(message)\n".utf8))
        exit(1)
    }
}
