import AgentCore
import AgentFuzzSupport
import AgentProtocol
import FuzzSupport
import RingmasterModel

/// Rank report lines: a datagram on a rank's `RINGMASTER_CONTROL` socket through `RankReport.parseDatagram`
/// and the agent's handling of it (`AgentCore`, while the rank runs and after it exits). Every datagram is
/// counted (reports, or malformed lines), a line means the same alone or among others, and what the agent
/// forwards the controller can read.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzzer.bytes(data, size)
    let (reports, malformed) = RankReport.parseDatagram(bytes)
    Fuzzer.require(malformed >= 0 && reports.count + malformed >= 1, "a datagram that counts as nothing")
    // A datagram's reports are its lines' reports, each line taken alone (a rank may send one datagram per line).
    if bytes.count <= 4096 {
        let oneByOne = bytes.split(separator: UInt8(ascii: "\n")).flatMap { RankReport.parseDatagram($0).reports }
        Fuzzer.require(reports == oneByOne, "the datagram gives \(reports), its lines one by one \(oneByOne)")
    }
    let rank = RankRef(job: "fuzz-1", attempt: 1, rank: 0)
    var agent = AgentDrive()
    agent.launch(rank)
    let before = agent.core.malformedReports
    agent.handle(.rankReport(rank, datagram: bytes))
    Fuzzer.require(agent.core.malformedReports == before + UInt64(malformed), "malformed lines not counted")
    // The same datagram left on the socket when the rank exits is forwarded before its `exited`.
    agent.handle(.rankExited(rank, .exited(0), finalReports: [bytes]))
    return 0
}
