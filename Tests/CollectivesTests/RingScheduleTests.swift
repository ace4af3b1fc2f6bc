import Testing
@testable import Collectives

/// The ring's chunk maths, checked by simulating which ranks' contributions each segment
/// carries (bitmasks), over world sizes 1…9 and counts 0, 1, primes and non-divisible ones.
@Suite struct RingScheduleTests {
    static let counts = [0, 1, 2, 3, 5, 7, 13, 64, 97, 1000, 1_000_003]
    static let chunkSizes = [1, 3, 64, 1 << 16]

    @Test(arguments: 1...9)
    func segmentsAndChunksPartitionTheBuffer(worldSize n: Int) {
        for count in Self.counts {
            for chunk in Self.chunkSizes where count / chunk <= 20_000 {
                let s = RingSchedule(worldSize: n, rank: 0, count: count, chunkElements: chunk)
                var next = 0
                var lengths: [Int] = []
                for i in 0..<n {
                    let seg = s.segment(i)
                    #expect(seg.lowerBound == next)
                    next = seg.upperBound
                    lengths.append(seg.count)
                    // Chunks tile the segment; an empty segment has exactly one empty chunk.
                    let k = s.chunkCount(ofSegment: i)
                    #expect(k == max(1, (seg.count + chunk - 1) / chunk))
                    var inner = seg.lowerBound
                    for j in 0..<k {
                        let c = s.chunk(j, ofSegment: i)
                        #expect(c.lowerBound == inner)
                        #expect(c.count <= chunk)
                        #expect(seg.isEmpty || !c.isEmpty)
                        inner = c.upperBound
                    }
                    #expect(inner == seg.upperBound)
                }
                #expect(next == count)
                #expect((lengths.max() ?? 0) - (lengths.min() ?? 0) <= 1)
            }
        }
    }

    @Test(arguments: 1...9)
    func everySegmentIsReducedExactlyOnceThenGathered(worldSize n: Int) {
        let full = (1 << n) - 1
        let schedules = (0..<n).map { RingSchedule(worldSize: n, rank: $0, count: 97, chunkElements: 8) }
        #expect(schedules[0].totalSteps == 2 * (n - 1))
        // contributions[r][s]: which ranks' data rank r's copy of segment s contains.
        var contributions = (0..<n).map { r in [Int](repeating: 1 << r, count: n) }
        for t in 0..<schedules[0].totalSteps {
            let sent = (0..<n).map { r in (segment: schedules[r].sendSegment(step: t),
                                           mask: contributions[r][schedules[r].sendSegment(step: t)]) }
            for r in 0..<n {
                let s = schedules[r]
                let incoming = sent[s.left]
                #expect(incoming.segment == s.recvSegment(step: t), "rank \(r) step \(t)")
                if t + 1 < s.totalSteps { #expect(s.sendSegment(step: t + 1) == s.recvSegment(step: t)) }
                if s.reduces(step: t) {
                    #expect(contributions[r][incoming.segment] & incoming.mask == 0, "double count at rank \(r) step \(t)")
                    contributions[r][incoming.segment] |= incoming.mask
                } else {
                    #expect(incoming.mask == full)
                    contributions[r][incoming.segment] = incoming.mask
                }
            }
            if t == schedules[0].reduceScatterSteps - 1 {
                for r in 0..<n { #expect(contributions[r][r] == full, "rank \(r) owns segment \(r) after reduce-scatter") }
            }
        }
        for r in 0..<n { #expect(contributions[r].allSatisfy { $0 == full }) }
    }

    @Test func worldOfOneHasNoSteps() {
        let s = RingSchedule(worldSize: 1, rank: 0, count: 10, chunkElements: 4)
        #expect(s.totalSteps == 0)
        #expect(s.segment(0) == 0..<10)
    }
}

/// Small interpreter for the pure point-to-point schedules: runs every rank's program with
/// FIFO queues and checks the outcome (bounded: it stops when nobody can move).
struct ScheduleSimulator {
    /// Runs recursive doubling; returns each rank's final contribution mask, or nil on deadlock.
    static func recursiveDoubling(_ n: Int) -> [Int]? {
        let programs = (0..<n).map { RecursiveDoublingSchedule(worldSize: n, rank: $0).steps }
        var pc = [Int](repeating: 0, count: n)
        var sentThisStep = [Bool](repeating: false, count: n)
        var mask = (0..<n).map { 1 << $0 }
        var queues: [[Int]: [Int]] = [:]  // [from, to] → masks
        var moved = true
        while moved {
            moved = false
            for r in 0..<n where pc[r] < programs[r].count {
                switch programs[r][pc[r]] {
                case .sendAll(let p):
                    queues[[r, p], default: []].append(mask[r]); pc[r] += 1; moved = true
                case .receiveAndReduce(let p):
                    if let m = queues[[p, r]]?.first {
                        queues[[p, r]]!.removeFirst()
                        if mask[r] & m != 0 { return nil }
                        mask[r] |= m; pc[r] += 1; moved = true
                    }
                case .exchange(let p):
                    if !sentThisStep[r] { queues[[r, p], default: []].append(mask[r]); sentThisStep[r] = true; moved = true }
                    if let m = queues[[p, r]]?.first {
                        queues[[p, r]]!.removeFirst()
                        if mask[r] & m != 0 { return nil }
                        mask[r] |= m; pc[r] += 1; sentThisStep[r] = false; moved = true
                    }
                case .receiveResult(let p):
                    if let m = queues[[p, r]]?.first {
                        queues[[p, r]]!.removeFirst()
                        mask[r] = m; pc[r] += 1; moved = true
                    }
                }
            }
        }
        return pc.enumerated().allSatisfy { $0.element == programs[$0.offset].count } ? mask : nil
    }
}

@Suite struct SmallMessageScheduleTests {
    @Test(arguments: 1...9)
    func recursiveDoublingGivesEveryRankEveryContributionOnce(worldSize n: Int) throws {
        let masks = try #require(ScheduleSimulator.recursiveDoubling(n))
        #expect(masks.allSatisfy { $0 == (1 << n) - 1 })
        // Sequential hops: log2(p) exchanges, plus fold and unfold when N is not a power of two.
        let s = RecursiveDoublingSchedule(worldSize: n, rank: 0)
        let log2p = s.powerOfTwo.trailingZeroBitCount
        #expect(s.steps.count == log2p + (n == s.powerOfTwo ? 0 : 2))
    }

    @Test(arguments: 1...9)
    func disseminationBarrierHearsFromEveryone(worldSize n: Int) {
        var heard = (0..<n).map { 1 << $0 }
        let rounds = (0..<n).map { DisseminationSchedule(worldSize: n, rank: $0).rounds }
        #expect(rounds[0].count == ceilLog2(n))
        for k in 0..<rounds[0].count {
            let before = heard
            for r in 0..<n {
                let (to, from) = rounds[r][k]
                #expect(rounds[from][k].to == r)
                _ = to
                heard[r] |= before[from]
            }
        }
        #expect(heard.allSatisfy { $0 == (1 << n) - 1 })
    }

    private func ceilLog2(_ n: Int) -> Int {
        var k = 0
        while (1 << k) < n { k += 1 }
        return k
    }

    @Test func algorithmChoiceFollowsTheThreshold() {
        #expect(AlgorithmChoice.choose(bytes: 8, worldSize: 4, threshold: 1024) == .recursiveDoubling)
        #expect(AlgorithmChoice.choose(bytes: 1024, worldSize: 4, threshold: 1024) == .recursiveDoubling)
        #expect(AlgorithmChoice.choose(bytes: 1025, worldSize: 4, threshold: 1024) == .ring)
        #expect(AlgorithmChoice.choose(bytes: 8, worldSize: 1, threshold: 1024) == .ring)
    }
}
