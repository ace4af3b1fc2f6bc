import AgentProtocol
import Foundation
import RingmasterModel
import Testing

@Suite struct MessageTests {
    let ref = RankRef(job: "demo-1", attempt: 2, rank: 3)

    @Test func controllerMessagesRoundTrip() throws {
        let messages: [ControllerMessage] = [
            .launch(LaunchRequest(rank: ref, argv: ["python3", "train.py"], env: ["RANK": "3"], cwd: "/w", logDir: "/logs")),
            .signal(SignalRequest(rank: nil, signal: 15, graceMilliseconds: 5000)),
            .signal(SignalRequest(rank: ref, signal: 9)),
            .ping(Ping(id: 42)),
        ]
        for m in messages {
            let line = try AgentWire.encodeLine(m)
            #expect(line.last == UInt8(ascii: "\n"))
            #expect(!line.dropLast().contains(UInt8(ascii: "\n")))
            #expect(try AgentWire.decodeControllerMessage(line.dropLast()) == m)
        }
    }

    @Test func agentMessagesRoundTripWithTypeField() throws {
        let hello = Hello(
            buildHash: "abc", agentPID: 7,
            host: HostFacts(hostname: "h", os: "Debian", kernel: "6.1", cpuModel: "EPYC", cpuCount: 2, memoryBytes: 1 << 30),
            accelerators: Accelerator.simulated(count: 2, node: "h"), warnings: ["w"])
        let messages: [AgentMessage] = [
            .hello(hello),
            .heartbeat(
                Heartbeat(
                    sequence: 1, load: HostLoad(cpuBusy: 0.5, loadAverage1m: 1, memoryUsedBytes: 1, memoryTotalBytes: 2),
                    ranks: [RankUsage(rank: ref, pid: 9, rssBytes: 100)], agentRSSBytes: 5, malformedReports: 1, ping: 3)),
            .started(RankStarted(rank: ref, pid: 99)),
            .exited(RankExited(rank: ref, status: 1)),
            .exited(RankExited(rank: ref, signal: 9)),
            .log(LogBatch(rank: ref, stream: .stderr, lines: ["a\"b", "ünïcode", "tab\tnew"], droppedBytes: 12)),
            .progress(RankProgress(rank: ref, step: 10)),
            .progress(RankProgress(rank: ref, metric: "loss", value: 0.25)),
            .checkpoint(CheckpointReport(rank: ref, step: 10)),
            .checkpoint(CheckpointReport(rank: ref, step: 20, failure: "cannot write /c/step-20: No space left on device")),
            .error(ProtocolErrorReport(message: "bad")),
        ]
        for m in messages {
            let line = try AgentWire.encodeLine(m)
            let json = try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
            #expect(json["type"] as? String == m.typeName)
            #expect(try AgentWire.decodeAgentMessage(line.dropLast()) == m)
        }
    }

    @Test func unknownTypeAndGarbageAreErrors() {
        #expect(throws: (any Error).self) { try AgentWire.decodeAgentMessage(Array(#"{"type":"launch-missiles"}"#.utf8)) }
        #expect(throws: (any Error).self) { try AgentWire.decodeAgentMessage(Array("not json".utf8)) }
        #expect(throws: (any Error).self) { try AgentWire.decodeAgentMessage(Array(#"{"type":"started","pid":1}"#.utf8)) }
        #expect(throws: (any Error).self) { try AgentWire.decodeControllerMessage(Array(#"{"argv":[]}"#.utf8)) }
    }

    @Test func encodingRefusesLinesOverTheCap() {
        let big = LogBatch(rank: ref, stream: .stdout, lines: [String(repeating: "x", count: AgentWire.maxLineBytes)])
        #expect(throws: FramingError.self) { try AgentWire.encodeLine(AgentMessage.log(big)) }
    }
}

@Suite struct FramingTests {
    @Test func splitsLinesAcrossReads() throws {
        var f = LineFramer(maxLineBytes: 100)
        f.append(Array("ab".utf8))
        #expect(try f.nextLine() == nil)
        f.append(Array("c\n\nde\nf".utf8))
        #expect(try f.nextLine().map { Array($0) } == Array("abc".utf8))
        #expect(try f.nextLine().map { Array($0) } == Array("de".utf8))
        #expect(try f.nextLine() == nil)
        f.append(Array("g\n".utf8))
        #expect(try f.nextLine().map { Array($0) } == Array("fg".utf8))
        #expect(f.pendingBytes == 0)
    }

    @Test func refusesOverlongLinesWithAndWithoutNewline() throws {
        var f = LineFramer(maxLineBytes: 8)
        f.append(Array("123456789".utf8))
        #expect(throws: FramingError.lineTooLong(9)) { try f.nextLine() }
        var g = LineFramer(maxLineBytes: 8)
        g.append(Array("12345678\n123456789\n".utf8))
        #expect(try g.nextLine()?.count == 8)
        #expect(throws: FramingError.self) { try g.nextLine() }
    }

    @Test func memoryStaysBoundedOverManyLines() throws {
        var f = LineFramer(maxLineBytes: 64)
        var count = 0
        for _ in 0..<10_000 {
            f.append(Array("hello world\n".utf8))
            while try f.nextLine() != nil { count += 1 }
        }
        #expect(count == 10_000)
        #expect(f.pendingBytes == 0)
    }
}

@Suite struct RankReportTests {
    @Test func parsesReports() {
        #expect(RankReport(line: "step 12") == .step(12))
        #expect(RankReport(line: "checkpoint 7\n") == .checkpoint(7))
        #expect(RankReport(line: "metric loss 0.125") == .metric(name: "loss", value: 0.125))
        #expect(RankReport(line: "  metric train/lr 1e-4 ") == .metric(name: "train/lr", value: 1e-4))
        #expect(RankReport(line: "section eval 600") == .section(name: "eval", seconds: 600))
        #expect(RankReport(line: "section save/async 0.25") == .section(name: "save/async", seconds: 0.25))
        #expect(RankReport(line: "section end") == .sectionEnd)
        #expect(RankReport(line: "section end 30") == .section(name: "end", seconds: 30))
        #expect(RankReport(line: "checkpoint-failed 20 cannot write /c/step-20/x.bin: No space left on device\n")
            == .checkpointFailed(20, reason: "cannot write /c/step-20/x.bin: No space left on device"))
        #expect(RankReport(line: "checkpoint-failed 3") == .checkpointFailed(3, reason: "no reason given"))
        let long = RankReport(line: "checkpoint-failed 4 " + String(repeating: "y", count: 3000))
        #expect(long == .checkpointFailed(4, reason: String(repeating: "y", count: RankReport.maxReason)))
    }

    @Test func aFailedCheckpointIsACheckpointMessageWithItsFailure() throws {
        let ref = RankRef(job: "demo-1", attempt: 2, rank: 3)
        let line = try AgentWire.encodeLine(AgentMessage.checkpoint(CheckpointReport(rank: ref, step: 5, failure: "disk full")))
        let json = try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
        #expect(json["failure"] as? String == "disk full")
        // A report without the field (every successful one) decodes as a success.
        let plainLine = try AgentWire.encodeLine(AgentMessage.checkpoint(CheckpointReport(rank: ref, step: 5)))
        #expect(!String(decoding: plainLine, as: UTF8.self).contains("failure"))
        let plain = try AgentWire.decodeAgentMessage(plainLine.dropLast())
        #expect(plain == .checkpoint(CheckpointReport(rank: ref, step: 5, failure: nil)))
    }

    @Test(arguments: ["", "step", "step -1", "step x", "step 1 2", "checkpoint", "checkpoint-failed", "checkpoint-failed x y",
                      "checkpoint-failed -2 full", "metric loss", "metric loss nan", "metric a b c",
                      "hello 1", "metric bad name! 1", "STEP 1", "section", "section eval", "section eval 0", "section eval -5",
                      "section eval inf", "section eval 1e9", "section bad! 5", "section end now"])
    func refusesMalformed(_ line: String) {
        #expect(RankReport(line: line) == nil)
    }

    @Test func datagramsCountMalformedLines() {
        let (r, bad) = RankReport.parseDatagram(Array("step 1\nbogus\nmetric loss 2\n".utf8))
        #expect(r == [.step(1), .metric(name: "loss", value: 2)])
        #expect(bad == 1)
        #expect(RankReport.parseDatagram(Array("".utf8)).malformed == 1)
        #expect(RankReport.parseDatagram([UInt8](repeating: 65, count: 5000)).malformed == 1)
    }

    /// Found by fuzz-rank-reports: "\r\n" is one Swift character, so a datagram of CRLF lines was one line of
    /// malformed words and every report in it was dropped.
    @Test func linesEndingInCRLFAreReports() {
        let (r, bad) = RankReport.parseDatagram(Array("  step 7  \r\n\tmetric grad_norm -0.0\n".utf8))
        #expect(r == [.step(7), .metric(name: "grad_norm", value: -0.0)])
        #expect(bad == 0)
        #expect(RankReport(line: "checkpoint 3\r\n") == .checkpoint(3))
    }
}

@Suite struct LogBatcherTests {
    @Test func batchesLinesAndKeepsPartialLine() {
        var b = LogBatcher(maxPendingBytes: 1024, maxLineBytes: 100)
        b.ingest(Array("one\ntwo\r\nthr".utf8))
        let first = b.flush()
        #expect(first?.lines == ["one", "two"])
        #expect(first?.droppedBytes == 0)
        b.ingest(Array("ee\n".utf8))
        #expect(b.flush()?.lines == ["three"])
        b.ingest(Array("tail".utf8))
        #expect(b.flush() == nil)
        #expect(b.flush(final: true)?.lines == ["tail"])
    }

    @Test func dropsAndCountsBeyondTheCap() {
        var b = LogBatcher(maxPendingBytes: 100, maxLineBytes: 50)
        for _ in 0..<1000 { b.ingest(Array("0123456789\n".utf8)) }  // 11 000 bytes
        #expect(b.pendingBytes <= 100)
        let batch = b.flush()!
        #expect(batch.lines.count == 9)
        #expect(batch.droppedBytes == 11_000 - 100)
        #expect(b.isEmpty || b.pendingBytes < 11)
    }

    @Test func cutsOverlongLines() {
        var b = LogBatcher(maxPendingBytes: 1000, maxLineBytes: 10)
        b.ingest(Array(String(repeating: "a", count: 25).utf8) + [10])
        #expect(b.flush()?.lines == ["aaaaaaaaaa", "aaaaaaaaaa", "aaaaa"])
    }
}

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func knownVectors(_ input: String, _ digest: String) {
        #expect(SHA256Hasher.hex(of: Array(input.utf8)) == digest)
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var h = SHA256Hasher()
        var i = 0
        for step in [1, 63, 64, 65, 127, 1000, 3] {
            let end = min(i + step, data.count)
            h.update(Array(data[i..<end]))
            i = end
        }
        h.update(Array(data[i...]))
        #expect(SHA256Hasher.hexString(h.finalize()) == SHA256Hasher.hex(of: data))
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256Hasher.hex(of: million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}

@Suite struct AgentOptionsTests {
    @Test func roundTrips() throws {
        var o = AgentOptions(mode: .stdio, node: "n 1", heartbeatMilliseconds: 250, discoveryCommand: "echo '[]'", shutdownGraceMilliseconds: 500)
        o.simulateAccelerators = (4, "tpu")
        o.controllerSilenceMilliseconds = 4000
        #expect(o.arguments.suffix(2) == ["--controller-silence-ms", "4000"])
        o.reportBatchMilliseconds = 100
        #expect(o.arguments.suffix(2) == ["--report-batch-ms", "100"])
        let parsed = try AgentOptions.parse(o.arguments)
        #expect(parsed == o)
        #expect(parsed.simulateAccelerators?.count == 4)
        o.expectedBuildHash = "abc"
        o.justUploaded = true
        #expect(try AgentOptions.parse(o.arguments) == o)
        let exec = AgentOptions(mode: .execRank(parentPID: 10, cwd: nil, argv: ["sh", "-c", "--x"]))
        #expect(try AgentOptions.parse(exec.arguments).mode == exec.mode)
        #expect(throws: AgentOptions.ParseError.self) { try AgentOptions.parse(["--stdio", "--heartbeat-ms", "0"]) }
        #expect(throws: AgentOptions.ParseError.self) { try AgentOptions.parse(["--bogus"]) }
        #expect(throws: AgentOptions.ParseError.noMode) { try AgentOptions.parse([]) }
        #expect(try AgentOptions.parse(["--stdio", "--simulate-accelerators", "2"]).simulateAccelerators?.kind == "simulated")
    }

    @Test func shellQuoting() {
        #expect(shellQuote("plain-1.0") == "plain-1.0")
        #expect(shellQuote("") == "''")
        #expect(shellQuote("it's a $test") == #"'it'\''s a $test'"#)
    }
}
