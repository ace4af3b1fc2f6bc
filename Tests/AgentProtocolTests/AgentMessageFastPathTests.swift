import AgentProtocol
import Foundation
import RingmasterModel
import Testing

/// The hot messages' fast path reads and writes exactly what `JSONDecoder`/`JSONEncoder` do.
@Suite struct AgentMessageFastPathTests {
    static func message(_ rng: inout SplitMix64) -> AgentMessage {
        let jobs = ["demo-1", "scale-12", "ünï-3", "a\"b\\c-4", "tab\there-5", "x/y-6", ""]
        func ref() -> RankRef {
            RankRef(job: JobID(rawValue: jobs[Int(rng.next() % UInt64(jobs.count))]), attempt: Int(rng.next() % 100),
                    rank: Int(rng.next() % 5000))
        }
        func double() -> Double {
            [0, 0.25, -1.5, 1e-300, 1.7976931348623157e308, Double(rng.next() % 1000) / 7, 5e-324, 1e16][Int(rng.next() % 8)]
        }
        switch rng.next() % 6 {
        case 5:
            let n = Int(rng.next() % 9)
            return .steps(StepBatch(job: ref().job, attempt: Int(rng.next() % 9), ranks: (0..<n).map { _ in Int(rng.next() % 4096) },
                                    steps: (0..<n).map { _ in Int(truncatingIfNeeded: rng.next()) }))
        case 3:
            return .started(RankStarted(rank: ref(), pid: Int32(truncatingIfNeeded: rng.next())))
        case 4:
            return .exited(RankExited(rank: ref(), status: rng.next() % 2 == 0 ? nil : Int32(rng.next() % 256),
                                      signal: rng.next() % 2 == 0 ? nil : 9, error: rng.next() % 3 == 0 ? "no such file: \"x\"" : nil))
        case 0:
            let ranks = (0..<Int(rng.next() % 9)).map { _ in
                RankUsage(rank: ref(), pid: Int32(truncatingIfNeeded: rng.next()), rssBytes: rng.next())
            }
            return .heartbeat(Heartbeat(
                sequence: rng.next(), load: HostLoad(cpuBusy: double(), loadAverage1m: double(), memoryUsedBytes: rng.next(),
                                                     memoryTotalBytes: UInt64.max),
                ranks: ranks, agentRSSBytes: rng.next() >> 20, malformedReports: rng.next() % 3,
                ping: rng.next() % 2 == 0 ? nil : rng.next()))
        case 1:
            return .progress(RankProgress(
                rank: ref(), step: rng.next() % 3 == 0 ? nil : Int(truncatingIfNeeded: rng.next()),
                metric: rng.next() % 2 == 0 ? nil : ["loss", "lr", "ü\"\n"][Int(rng.next() % 3)],
                value: rng.next() % 2 == 0 ? nil : double()))
        default:
            return .checkpoint(CheckpointReport(rank: ref(), step: Int(rng.next() % 100_000),
                                                failure: rng.next() % 2 == 0 ? nil : "disk \"full\"\u{1}"))
        }
    }

    @Test func bothPathsAgreeOnGeneratedMessages() throws {
        var rng = SplitMix64(seed: 15)
        for _ in 0..<2000 {
            let m = Self.message(&rng)
            // Written fast, read by JSONDecoder alone; written by JSONEncoder, read fast (or by JSONDecoder).
            let fast = try #require(AgentMessageFastPath.encode(m))
            #expect(try AgentWire.decodeAgentMessageSlowly(fast) == m, "\(String(decoding: fast, as: UTF8.self))")
            let slow = try JSONEncoder().encode(m)
            #expect(try AgentWire.decodeAgentMessage(slow) == m)
            if let read = AgentMessageFastPath.decode(slow) { #expect(read == m) }
            if let read = AgentMessageFastPath.decode(fast) { #expect(read == m) }
        }
    }

    @Test func launchesWrittenFastAreReadByJSONDecoder() throws {
        var rng = SplitMix64(seed: 23)
        for _ in 0..<300 {
            let env = Dictionary(uniqueKeysWithValues: (0..<Int(rng.next() % 12)).map { ("VAR_\($0)", "v\"\\\($0)\u{7}ü") })
            let m = ControllerMessage.launch(LaunchRequest(
                rank: RankRef(job: "j-1", attempt: 1, rank: Int(rng.next() % 4096)), argv: ["python3", "-c", "print(\"hi\")\n"],
                env: env, cwd: rng.next() % 2 == 0 ? nil : "/work/é", logDir: "/logs",
                maxLogFileBytes: rng.next() % 2 == 0 ? nil : rng.next()))
            let line = try AgentWire.encodeLine(m)
            #expect(line.last == UInt8(ascii: "\n"))
            #expect(!line.dropLast().contains(UInt8(ascii: "\n")))
            #expect(try AgentWire.decodeControllerMessage(line.dropLast()) == m)
        }
    }

    @Test func plainLinesOfOurOwnWritingTakeTheFastPath() throws {
        let ref = RankRef(job: "demo-1", attempt: 2, rank: 3)
        for m: AgentMessage in [
            .progress(RankProgress(rank: ref, step: 7)),
            .checkpoint(CheckpointReport(rank: ref, step: 5)),
            .heartbeat(Heartbeat(sequence: 1, load: HostLoad(cpuBusy: 0.5, loadAverage1m: 1, memoryUsedBytes: 1, memoryTotalBytes: 2),
                                 ranks: [RankUsage(rank: ref, pid: 9, rssBytes: 100)], agentRSSBytes: 5, malformedReports: 0)),
        ] {
            #expect(AgentMessageFastPath.decode(try JSONEncoder().encode(m)) == m)
            #expect(AgentMessageFastPath.decode(try #require(AgentMessageFastPath.encode(m))) == m)
        }
    }

    /// Lines the fast path leaves to `JSONDecoder`, which accepts or refuses each with its own error.
    @Test func anythingUnusualIsLeftToJSONDecoder() throws {
        let rank = #""rank":{"job":"j-1","attempt":1,"rank":0}"#
        let lines = [
            #"{"type":"progress",\#(rank),"step":1.0}"#,                    // an integer written as a fraction
            #"{"type":"progress",\#(rank),"step":1e2}"#,
            #"{"type":"progress",\#(rank),"step":01}"#,                     // not JSON
            #"{"type":"progress",\#(rank),"step":1,"step":2}"#,             // a duplicate key
            #"{"type":"progress","rank":{"job":"j\u002d1","attempt":1,"rank":0},"step":1}"#, // an escape
            #"{"type":"progress",\#(rank),"step":1} x"#,                    // trailing bytes
            #"{"type":"progress",\#(rank),"value":1e400}"#,                 // out of range
            #"{"type":"progress",\#(rank),"step":99999999999999999999}"#,
            #"{"type":"heartbeat","sequence":-0,"load":{"cpuBusy":0,"loadAverage1m":0,"memoryUsedBytes":0,"memoryTotalBytes":0},"ranks":[],"agentRSSBytes":0,"malformedReports":0}"#,
            #"{"type":"checkpoint",\#(rank)}"#,                             // a required field missing
            #"{"type":"section",\#(rank),"name":"save","seconds":3}"#,      // not a hot message
            #"[[[[[[[[[[[]]]]]]]]]]]"#,
            #"{"type":"steps","job":"j-1","attempt":1,"ranks":[1,2],"steps":[3]}"#, // unequal lengths
        ]
        for line in lines {
            #expect(AgentMessageFastPath.decode(Array(line.utf8)) == nil, "\(line)")
        }
        // What JSONDecoder makes of them stands: the section report is read, the rest refused or read as it reads them.
        #expect(try AgentWire.decodeAgentMessage(Array(lines[10].utf8))
            == .section(SectionReport(rank: RankRef(job: "j-1", attempt: 1, rank: 0), name: "save", seconds: 3)))
        #expect(throws: (any Error).self) { try AgentWire.decodeAgentMessage(Array(lines[2].utf8)) }
        #expect(throws: (any Error).self) { try AgentWire.decodeAgentMessage(Array(lines[12].utf8)) }
    }

    /// Every byte of valid lines changed in turn: whatever the fast path still reads, JSONDecoder reads the same.
    @Test func mutatedLinesAreReadAsJSONDecoderReadsThem() throws {
        var rng = SplitMix64(seed: 19)
        let replacements = Array(#"0-1.e"{}[],:\ nt"#.utf8) + [0xC3, 0xFF, 0x00]
        for _ in 0..<40 {
            let line = try #require(AgentMessageFastPath.encode(Self.message(&rng)))
            for i in line.indices {
                var mutated = line
                mutated[i] = replacements[Int(rng.next() % UInt64(replacements.count))]
                if let fast = AgentMessageFastPath.decode(mutated) {
                    #expect(fast == (try? AgentWire.decodeAgentMessageSlowly(mutated)), "\(String(decoding: mutated, as: UTF8.self))")
                }
            }
        }
    }
}
