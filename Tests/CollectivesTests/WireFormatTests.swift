import Testing
@testable import Collectives

@Suite struct WireFormatTests {
    @Test func frameHeaderRoundTrips() throws {
        let h = FrameHeader(kind: .allReduce, dataType: .bfloat16, reduceOp: .max, algorithm: 1,
                            sequence: 0x0102_0304_0506, count: 1_000_003, payloadBytes: 65536, aux: 7)
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        bytes.withUnsafeMutableBytes { h.encode(into: $0.baseAddress!) }
        let back = try #require(bytes.withUnsafeBytes { FrameHeader.decode($0.baseAddress!) })
        #expect(back == h)
        bytes[0] = 0
        #expect(bytes.withUnsafeBytes { FrameHeader.decode($0.baseAddress!) } == nil)
    }

    @Test func differentOperationsAreNotTheSame() {
        let a = FrameHeader(kind: .allReduce, dataType: .float32, reduceOp: .sum, sequence: 3, count: 10, payloadBytes: 4)
        var b = a
        b.payloadBytes = 8
        #expect(a.sameOperation(as: b))
        for change in [{ (h: inout FrameHeader) in h.count = 11 }, { $0.dataType = DataType.int32.rawValue },
                       { $0.reduceOp = ReduceOp.max.rawValue }, { $0.sequence = 4 }, { $0.kind = OpKind.broadcast.rawValue }] {
            var c = a
            change(&c)
            #expect(!a.sameOperation(as: c))
        }
        #expect(a.signature.contains("allReduce #3"))
    }

    @Test func handshakeParsesAndRefusesStaleOrWrongToken() throws {
        let hello = Handshake(attempt: 3, from: 2, to: 0, group: "world/data[0,2]#0", token: "secret")
        let parsed = try #require(Handshake.parse(String(hello.line.dropLast())))
        #expect(parsed == hello)
        #expect(parsed.refusal(me: 0, worldSize: 4, attempt: 3, token: "secret") == nil)
        #expect(parsed.refusal(me: 0, worldSize: 4, attempt: 4, token: "other")?.contains("older attempt") == true)
        #expect(parsed.refusal(me: 0, worldSize: 4, attempt: 3, token: "other")?.contains("wrong token") == true)
        #expect(parsed.refusal(me: 1, worldSize: 4, attempt: 3, token: "secret") != nil)
        #expect(Handshake.parse("GET / HTTP/1.1") == nil)
    }

    @Test func rendezvousLinesRoundTrip() throws {
        let r = JoinRequest(attempt: 2, token: "t0k", rank: 1, worldSize: 3, host: "", port: 4242)
        let (back, timeout) = try #require(RendezvousWire.parseRequest(String(RendezvousWire.requestLine(r, timeoutMilliseconds: 900).dropLast())))
        #expect(back == r)
        #expect(timeout == 900)
        #expect(RendezvousWire.answer(.failure(.joinTimedOut(missingRanks: [1, 3], attempt: 2))) == "MISSING 2 1,3\n")
    }

    /// fuzz-rendezvous: the line is read before the token is checked, so anyone who reached the controller's
    /// rendezvous port crashed it with a `timeoutms=` whose nanoseconds overflow 64 bits.
    @Test func aJoinAskingForAnEndlessWaitWaitsTheLongestARankMayAsk() throws {
        let now = Deadline(nanoseconds: 1 << 40)
        let line = "RMJOIN 1 attempt=1 rank=2 world=3 host=10.0.token=0.2 port=41001 timeoutms=1221474836480000 token=fuzz-token"
        let (request, deadline) = try #require(RendezvousWire.serverRequest(line, now: now))
        #expect(request.host == "10.0.token=0.2")
        #expect(deadline.nanoseconds == now.nanoseconds + UInt64(RendezvousWire.maxWaitMilliseconds) * 1_000_000)
        let longest = "RMJOIN 1 attempt=1 rank=0 world=1 host=- port=1 timeoutms=\(Int.max) token=t"
        #expect(RendezvousWire.serverRequest(longest, now: now)?.deadline == deadline)
        let asked = "RMJOIN 1 attempt=1 rank=0 world=1 host=- port=1 timeoutms=900 token=t"
        #expect(RendezvousWire.serverRequest(asked, now: now)?.deadline.nanoseconds == now.nanoseconds + 900_000_000)
    }

    @Test func byteSizesParse() {
        #expect(ByteSize.parseList("8,4K,64K,1M,16M,64M,256M") == [8, 4096, 65536, 1 << 20, 16 << 20, 64 << 20, 256 << 20])
        #expect(ByteSize.parseList("8,x") == nil)
        #expect(ByteSize.format(256 << 20) == "256M")
    }

    @Test func busBandwidthUsesTheNcclDefinition() {
        let r = BenchmarkResult(ranks: 4, bytes: 1_000_000_000, dtype: "float32", seconds: 2)
        #expect(r.algbwGBps == 0.5)
        #expect(r.busbwGBps == 0.75)
        #expect(BenchmarkResult.median([3, 1, 2]) == 2)
        #expect(BenchmarkResult.median([4, 1, 2, 3]) == 2.5)
    }
}
