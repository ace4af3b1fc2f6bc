import Checkpointing
import Foundation
import RingmasterTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A bound Unix datagram socket standing in for the agent's control socket.
final class DatagramListener {
    let fd: Int32
    let path: String

    init(path: String) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        _ = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

@Suite struct RankReports {
    @Test func reportsArriveOneDatagramPerLine() throws {
        try withTemporaryDirectory { dir in
            let listener = DatagramListener(path: "\(dir)/control.sock")
            let reporter = try #require(RankReporter.fromEnvironment(["RINGMASTER_CONTROL": listener.path]))
            reporter.step(41)
            reporter.metric("loss", 2.5)
            let ckpt = Checkpointer(.init(directory: "\(dir)/ckpt", rank: 0, worldSize: 2, async: false,
                                          reporter: reporter))
            try ckpt.save(snapshot(step: 42))
            #expect(listener.receive() == "step 41")
            #expect(listener.receive() == "metric loss 2.5")
            #expect(listener.receive() == "checkpoint 42")
            // With a reporter the controller commits, not the rank.
            #expect(CheckpointLayout(directory: "\(dir)/ckpt").committedSteps().isEmpty)
        }
    }

    @Test func noControlSocketMeansNoReporter() {
        #expect(RankReporter.fromEnvironment([:]) == nil)
    }
}
