import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import Collectives

/// Mismatched calls, silent peers and closed peers on the in-process network: every rank
/// fails with a typed error, nobody hangs (the deadlines here are far above the expected time,
/// and the elapsed time is asserted).
@Suite struct FailureTests {
    static func groups(_ n: Int, timeout: Duration = .seconds(30)) -> [ProcessGroup] {
        var o = GroupOptions()
        o.timeout = timeout
        o.chunkBytes = 1024
        return localGroups(n, options: o)
    }

    static func isMismatch(_ e: (any Error)?) -> Bool {
        if case .mismatch? = e as? CollectiveError { return true }
        return false
    }

    @Test(arguments: [100, 100_000])
    func differentCountsAreAMismatchOnEveryRank(count: Int) async {
        let g = Self.groups(3)
        let start = Deadline.now()
        let results = await onRankThreads(3) { r in
            var b = [Float](repeating: 1, count: r == 2 ? count + 1 : count)
            try g[r].allReduce(&b)
        }
        for r in results { #expect(Self.isMismatch(r.error), "\(String(describing: r.error))") }
        #expect(Deadline.now().nanoseconds - start.nanoseconds < 10_000_000_000)
    }

    /// Rank 0 finds the mismatch (its first step receives rank 2's buffer); rank 1 only hears
    /// of it through rank 0's abort frame, which arrives where a small frame was expected and
    /// is read together with the start of its reason: the whole reason must come through.
    @Test func anAbortReadInPlaceOfASmallFrameKeepsItsWholeReason() async {
        let g = Self.groups(3)
        let results = await onRankThreads(3) { r in
            var b = [Float](repeating: 1, count: r == 2 ? 101 : 100)
            try g[r].allReduce(&b)
        }
        guard case .mismatch(let text)? = results[1].error as? CollectiveError else {
            Issue.record("rank 1: \(String(describing: results[1].error))")
            return
        }
        #expect(text.hasPrefix("during allReduce") || text.hasPrefix("this rank called"), "\(text)")
        #expect(text.contains("rank 2") && text.hasSuffix("(detected by rank 0)"), "\(text)")
    }

    @Test func differentTypesAreAMismatch() async {
        let g = Self.groups(2)
        let results = await onRankThreads(2) { r in
            if r == 0 { var b = [Float](repeating: 1, count: 10); try g[r].allReduce(&b) }
            else { var b = [Double](repeating: 1, count: 10); try g[r].allReduce(&b) }
        }
        for r in results { #expect(Self.isMismatch(r.error)) }
        if case .mismatch(let text)? = results[0].error as? CollectiveError { #expect(text.contains("float64") || text.contains("float32")) }
    }

    @Test func differentOperationsAndReductionsAreAMismatch() async {
        let g = Self.groups(4)
        let results = await onRankThreads(4) { r in
            var b = [Int32](repeating: 1, count: 1000)
            switch r {
            case 0: try g[r].broadcast(&b, root: 0)
            case 1: try g[r].allReduce(&b, op: .max)
            default: try g[r].allReduce(&b, op: .sum)
            }
        }
        // The broadcast root only sends, so it may finish before anyone objects; the rest must not.
        #expect(results[0].error == nil || Self.isMismatch(results[0].error))
        for r in results.dropFirst() { #expect(Self.isMismatch(r.error), "\(String(describing: r.error))") }
    }

    @Test func aSkippedOperationIsAMismatchOfSequenceNumbers() async {
        let g = Self.groups(2)
        let results = await onRankThreads(2) { r in
            var b = [Float](repeating: 1, count: 4)
            if r == 0 { try g[r].barrier() }
            try g[r].allReduce(&b)
            try g[r].allReduce(&b)
        }
        for r in results { #expect(Self.isMismatch(r.error), "\(String(describing: r.error))") }
    }

    @Test func aSilentPeerMeansTimeoutAtTheDeadlineAndTheGroupStaysBroken() async {
        let g = Self.groups(3, timeout: .milliseconds(300))
        let results = await onRankThreads(3) { r -> Double in
            guard r != 2 else { return 0 }  // rank 2 never calls
            let start = Deadline.now()
            var b = [Float](repeating: 1, count: 100_000)
            do throws(CollectiveError) { try g[r].allReduce(&b) } catch {
                let elapsed = Double(Deadline.now().nanoseconds - start.nanoseconds) / 1e9
                guard case .timeout = error else { throw error }
                // Later operations rethrow the same failure immediately.
                do throws(CollectiveError) { try g[r].barrier() } catch { guard case .timeout = error else { throw error }; return elapsed }
            }
            return -1
        }
        for r in 0..<2 {
            let elapsed = (try? results[r].get()) ?? -2
            #expect(elapsed >= 0.29, "rank \(r): \(String(describing: results[r].error))")
            #expect(elapsed < 5)
        }
    }

    /// No busy-spinning: a rank blocked in an operation sleeps in poll. Its thread's CPU time
    /// over a one-second wait for a peer that never calls stays far below the wall time.
    @Test(arguments: [8, 4 << 20])
    func aWaitingRankUsesAlmostNoCPU(bytes: Int) async {
        let g = Self.groups(2, timeout: .seconds(1))
        let results = await onRankThreads(2) { r -> (cpu: Double, wall: Double) in
            guard r == 0 else { return (0, 0) }  // rank 1 never calls
            var b = [Float](repeating: 1, count: bytes / 4)
            let (cpu0, wall0) = (Self.threadCPUSeconds(), Deadline.now())
            do throws(CollectiveError) { try g[0].allReduce(&b) } catch { guard case .timeout = error else { throw error } }
            return (Self.threadCPUSeconds() - cpu0, Double(Deadline.now().nanoseconds - wall0.nanoseconds) / 1e9)
        }
        let (cpu, wall) = (try? results[0].get()) ?? (-1, -1)
        #expect(wall >= 0.99, "\(String(describing: results[0].error))")
        #expect(cpu >= 0 && cpu < 0.05 * wall, "rank 0 used \(cpu) s of CPU while waiting \(wall) s")
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    @Test func aPeerThatClosesIsLost() async {
        let g = Self.groups(3)
        let results = await onRankThreads(3) { r in
            try g[r].barrier()  // every connection is up
            if r == 2 { g[r].close(); return }
            var b = [Float](repeating: 1, count: 200_000)
            try g[r].allReduce(&b)
        }
        for r in 0..<2 {
            #expect(results[r].error as? CollectiveError == .peerLost(rank: 2), "\(String(describing: results[r].error))")
        }
        #expect(throws: CollectiveError.closed) { try g[2].barrier() }
    }

    @Test func invalidArgumentsAreRejectedBeforeAnyTraffic() {
        let g = Self.groups(2)
        var b = [Float](repeating: 1, count: 4)
        #expect(throws: CollectiveError.self) { try g[0].broadcast(&b, root: 5) }
        #expect(throws: CollectiveError.self) { try g[0].send(b, to: 0) }
    }
}
