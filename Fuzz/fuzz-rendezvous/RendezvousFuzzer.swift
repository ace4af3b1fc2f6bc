import Collectives
import FuzzSupport

/// The rendezvous frames and the ring connection handshake: each line of the input as the first line of a
/// connection to the attempt's rendezvous (`RendezvousWire.serverRequest`, then `RendezvousBook.admit`), as
/// a line of the rendezvous's answer read by a joining rank (`answerHead`, `address`), and as the first line
/// on a rank's data listener (`Handshake.parse` and `refusal`). What is accepted reads back the same from
/// its own encoding, and a round that completes answers every rank the table it joined into.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let token = "fuzz-token"
    var book = RendezvousBook(attempt: 1, token: token, worldSize: 3)
    let asked = JoinRequest(attempt: 1, token: token, rank: 0, worldSize: 3, port: 1)
    for line in Chunks.lines(Fuzzer.bytes(data, size)) {
        if let (request, timeout) = RendezvousWire.parseRequest(line) {
            let again = RendezvousWire.parseRequest(received(RendezvousWire.requestLine(request, timeoutMilliseconds: timeout))[0])
            Fuzzer.require(again?.0 == request && again?.timeoutMilliseconds == timeout, "join request \(line) does not read back")
        }
        if var (request, _) = RendezvousWire.serverRequest(line, now: Deadline(nanoseconds: 1 << 40)) {
            // The server fills in the address it sees the rank on when the rank names none.
            if request.host.isEmpty { request.host = "127.0.0.1" }
            if case .waiting = book.admit(request), case .complete(let table)? = book.outcome(of: book.round) {
                requireAnswerReadsBack(.success(table), to: request)
            }
        }
        switch RendezvousWire.answerHead(line, request: asked) {
        case .success(let count): Fuzzer.require(count == asked.worldSize, "a table of \(count) for a world of 3")
        case .failure: break
        }
        if let address = RendezvousWire.address(line) {
            Fuzzer.require(RendezvousWire.address(received(RendezvousWire.answer(.success([address])))[1]) == address,
                           "address line \(line) does not read back")
        }
        if let hello = Handshake.parse(line) {
            Fuzzer.require(Handshake.parse(received(hello.line)[0]) == hello, "handshake \(line) does not read back")
            _ = hello.refusal(me: 0, worldSize: 3, attempt: 1, token: token)
        }
    }
    if !book.isComplete {
        let round = book.round
        book.expire(round: round)
        if case .missing(let missing)? = book.outcome(of: round) {
            requireAnswerReadsBack(.failure(.joinTimedOut(missingRanks: missing, attempt: 1)), to: asked)
        }
    }
    return 0
}

/// The server's answer, read line by line as `TCPRendezvous` reads it, is what the server meant.
func requireAnswerReadsBack(_ result: Result<[PeerAddress], CollectiveError>, to request: JoinRequest) {
    let lines = received(RendezvousWire.answer(result))
    switch (result, RendezvousWire.answerHead(lines[0], request: request)) {
    case (.success(let table), .success(let count)):
        Fuzzer.require(count == table.count, "the answer announces \(count) addresses for \(table.count)")
        Fuzzer.require(lines[1...count].map(RendezvousWire.address) == table.map(Optional.some),
                       "the address table does not read back: \(lines)")
    case (.failure(let sent), .failure(let read)):
        Fuzzer.require(sent == read, "the answer \(sent) read back as \(read)")
    default:
        Fuzzer.require(false, "the answer \(result) read back as its opposite: \(lines)")
    }
}

/// The lines a peer reads from what was sent: split at newline bytes as `Socket.readLine` splits them (a
/// String split would take "\r\n" for one character).
func received(_ sent: String) -> [String] { Chunks.lines(Array(sent.utf8)) }
