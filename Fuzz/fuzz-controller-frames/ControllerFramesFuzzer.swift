import AgentCore
import AgentFuzzSupport
import AgentProtocol
import FuzzSupport

/// Controller → agent frames: bytes on the agent's stdin through `AgentCore` (its `ControllerReader`, then
/// what it does with each launch, signal and ping), as `ringmaster-agent` hands them over. Whatever arrives,
/// the agent acts on whole lines only, the same way however the bytes were split into reads, and sends the
/// controller only messages it can read.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzzer.bytes(data, size)
    var whole = AgentDrive()
    whole.handle(.controllerBytes(bytes))
    var split = AgentDrive()
    for read in Chunks.split(bytes) { split.handle(.controllerBytes(read)) }
    Fuzzer.require(whole.actions.map(\.wordless) == split.actions.map(\.wordless), """
        the actions depend on how the bytes were split into reads: in one read \(whole.actions), \
        in \(Chunks.split(bytes).count) reads \(split.actions)
        """)
    // Every message the reader accepted reads back the same from its own encoding.
    var reader = ControllerReader()
    reader.append(bytes)
    while case .message(let message) = reader.next() { WireCheck.requireSurvives(message) }
    return 0
}

extension AgentAction {
    /// The action without the text of a diagnostic: the decoder names whichever bad key of an object it met
    /// first, and an object's keys come in no fixed order, so the same bad line may be told two ways.
    var wordless: AgentAction {
        switch self {
        case .log: .log("")
        case .send(.error): .send(.error(ProtocolErrorReport(message: "")))
        default: self
        }
    }
}
