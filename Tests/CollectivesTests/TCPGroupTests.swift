#if canImport(Glibc)
import Glibc
#endif
import SystemUtilities
import Testing
@testable import Collectives

/// Process groups over real TCP on loopback (ranks are threads here; see ProcessTests for
/// separate processes): rendezvous, authentication, refusals, join deadlines.
@Suite(.serialized, .timeLimit(.minutes(3))) struct TCPGroupTests {
    static func join(_ n: Int, server: RendezvousServer, token: String, attempt: Int = 7,
                     joinTimeout: Duration = .seconds(30), ranks: [Int]? = nil) async -> [Result<ProcessGroup, any Error>] {
        let members = ranks ?? Array(0..<n)
        return await onRankThreads(members.count) { i in
            var o = GroupOptions()
            o.joinTimeout = joinTimeout
            o.timeout = .seconds(30)
            return try ProcessGroup.join(rank: members[i], worldSize: n, attempt: attempt, token: token,
                                         rendezvous: TCPRendezvous(host: "127.0.0.1", port: server.port), options: o,
                                         listenHost: "127.0.0.1")
        }
    }

    @Test func ranksJoinAndReduceOverTCP() async throws {
        let server = try RendezvousServer(attempt: 7, token: "good", worldSize: 4)
        defer { server.shutdown() }
        let groups = try await Self.join(4, server: server, token: "good").map { try $0.get() }
        defer { groups.forEach { $0.close() } }
        let results = await onRankThreads(4) { r -> [String] in
            var problems: [String] = []
            for count in [0, 1, 7, 1000, 1_000_003] {
                if let p = try checkAllReduce(Float.self, groups[r], count: count, op: .sum) { problems.append(p) }
            }
            if let p = try checkAllReduce(Int64.self, groups[r], count: 77, op: .max) { problems.append(p) }
            let pairs = try groups[r].subgroup(ranks: r < 2 ? [0, 1] : [2, 3], label: "pair")
            var x = [Int32(r)]
            try pairs.allReduce(&x)
            if x[0] != (r < 2 ? 1 : 5) { problems.append("pair sum \(x[0])") }
            return problems
        }
        for r in results { #expect(try r.get() == []) }
    }

    /// A rank blocked in a collective on a hung peer (rank 2 never joins the second reduction) is freed by
    /// `abort` from another thread: the operation and every later one throw `closed`, not the 30 s timeout.
    /// Whether the abort lands before or during the reduction, the outcome is the same.
    @Test func abortFromAnotherThreadEndsACollectiveThatWaitsOnAHungPeer() async throws {
        let server = try RendezvousServer(attempt: 7, token: "good", worldSize: 3)
        defer { server.shutdown() }
        let groups = try await Self.join(3, server: server, token: "good").map { try $0.get() }
        defer { groups.forEach { $0.close() } }
        let results = await onRankThreads(3) { r -> String in
            var x = [Float](repeating: 1, count: 1000)
            try groups[r].allReduce(&x)  // every link is up
            if r == 2 {
                groups[0].abort()
                groups[1].abort()
                return "hung"
            }
            do {
                try groups[r].allReduce(&x)
                return "reduced"
            } catch let e as CollectiveError {
                guard case .closed = e else { return "\(e)" }
            }
            do {
                try groups[r].barrier()
                return "barrier passed"
            } catch let e as CollectiveError {
                guard case .closed = e else { return "later: \(e)" }
                return "closed"
            }
        }
        #expect(try results.map { try $0.get() } == ["closed", "closed", "hung"])
    }

    @Test func wrongTokenAndStaleAttemptAreRefusedAtTheRendezvous() async throws {
        let server = try RendezvousServer(attempt: 7, token: "good", worldSize: 2)
        defer { server.shutdown() }
        let rendezvous = TCPRendezvous(host: "127.0.0.1", port: server.port)
        let errors = await onRankThreads(2) { i -> String in
            do {
                _ = try rendezvous.join(JoinRequest(attempt: i == 0 ? 7 : 6, token: i == 0 ? "bad" : "good", rank: i,
                                                    worldSize: 2, port: 1), deadline: .after(.seconds(10)))
                return "joined"
            } catch { return "\(error)" }
        }
        #expect(try errors[0].get().contains("wrong token"))
        #expect(try errors[1].get().contains("older attempt"))
    }

    @Test func aMissingRankFailsEveryoneWithItsNumber() async throws {
        let server = try RendezvousServer(attempt: 7, token: "good", worldSize: 4)
        defer { server.shutdown() }
        let results = await Self.join(4, server: server, token: "good", joinTimeout: .milliseconds(400), ranks: [0, 2])
        for r in results {
            #expect(r.error as? CollectiveError == .joinTimedOut(missingRanks: [1, 3], attempt: 7))
        }
        #expect("\(CollectiveError.joinTimedOut(missingRanks: [1, 3], attempt: 7))".contains("ranks [1, 3] never arrived"))
    }

    @Test func inProcessRendezvousReportsMissingRanksToo() async throws {
        let rendezvous = InProcessRendezvous(attempt: 1, token: "t", worldSize: 3)
        let results = await onRankThreads(2) { r in
            try rendezvous.join(JoinRequest(attempt: 1, token: "t", rank: r, worldSize: 3, port: 1), deadline: .after(.milliseconds(300)))
        }
        for r in results { #expect(r.error as? CollectiveError == .joinTimedOut(missingRanks: [2], attempt: 1)) }
    }

    @Test func staleOrForgedDataConnectionsAreRefusedAndTheGroupCarriesOn() async throws {
        let server = try RendezvousServer(attempt: 7, token: "good", worldSize: 2)
        defer { server.shutdown() }
        let groups = try await Self.join(2, server: server, token: "good").map { try $0.get() }
        defer { groups.forEach { $0.close() } }
        let port = (groups[0].connector as! TCPConnector).listener.port
        let answers = try await onDedicatedThread(name: "rendezvous") { () -> [String] in
            var answers: [String] = []
            for hello in [Handshake(attempt: 6, from: 1, to: 0, group: "world", token: "good"),
                          Handshake(attempt: 7, from: 1, to: 0, group: "world", token: "forged")] {
                let fd = try Socket.connect(host: "127.0.0.1", port: port, deadline: .after(.seconds(5)))
                defer { close(fd) }
                try Socket.writeAll(fd, Array(hello.line.utf8), deadline: .after(.seconds(5)))
                answers.append(try Socket.readLine(fd, deadline: .after(.seconds(5))))
            }
            return answers
        }
        #expect(answers[0].hasPrefix("REFUSED") && answers[0].contains("older attempt"))
        #expect(answers[1].hasPrefix("REFUSED") && answers[1].contains("wrong token"))
        let results = await onRankThreads(2) { r in try checkAllReduce(Double.self, groups[r], count: 1000, op: .sum) }
        for r in results { #expect(try r.get() == nil) }
    }
}
