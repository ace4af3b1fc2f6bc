import AgentFuzzSupport
import AgentProtocol
import FuzzSupport
import NodeManager

/// Agent → controller frames: bytes from an agent's channel through `AgentStreamDecoder`, the controller's
/// reader of every agent (local pipes and SSH). Whatever arrives, the controller gets whole messages that
/// begin with a `hello` of the expected build, then at most one violation; the same however the bytes were
/// split into reads.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzzer.bytes(data, size)
    var whole = AgentStreamDecoder()
    whole.expectedBuildHash = AgentDrive.hello.buildHash
    let messages = whole.feed(bytes)
    var split = AgentStreamDecoder()
    split.expectedBuildHash = AgentDrive.hello.buildHash
    var pieces: [AgentMessage] = []
    for read in Chunks.split(bytes) { pieces += split.feed(read) }
    Fuzzer.require(messages == pieces, "the messages depend on how the bytes were split into reads")
    Fuzzer.require(whole.violation == split.violation, "the violation depends on how the bytes were split into reads")
    if let first = messages.first {
        guard case .hello(let hello) = first else { fatalError("the first message is not a hello: \(first)") }
        Fuzzer.require(hello.buildHash == AgentDrive.hello.buildHash, "a hello of another build was accepted")
    }
    for message in messages { WireCheck.requireSurvives(message) }
    var framer = LineFramer()
    framer.append(bytes)
    while let line = try? framer.nextLine() { WireCheck.requireFastPathAgrees(line) }
    return 0
}
