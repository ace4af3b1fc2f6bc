#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One established, non-blocking stream connection of a group to one peer, with the buffers
/// the exchange engine reuses across operations (no allocation per chunk).
final class Link {
    let fd: Int32
    /// The peer's rank in the group and in the world.
    let peer: Int
    let peerGlobal: Int
    let outHeader = UnsafeMutableRawPointer.allocate(byteCount: FrameHeader.size, alignment: 8)
    let inHeader = UnsafeMutableRawPointer.allocate(byteCount: FrameHeader.size, alignment: 8)
    private(set) var scratch: UnsafeMutableRawPointer
    private(set) var scratchBytes: Int
    /// True while a frame to this peer is partly written (then no abort frame may be sent).
    var midFrameOut = false

    init(fd: Int32, peer: Int, peerGlobal: Int) {
        self.fd = fd
        self.peer = peer
        self.peerGlobal = peerGlobal
        scratchBytes = 4096
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
    }

    /// Makes the scratch buffer at least `bytes` long (kept for later operations).
    func reserveScratch(_ bytes: Int) {
        guard bytes > scratchBytes else { return }
        scratch.deallocate()
        scratchBytes = bytes
        scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    deinit {
        close(fd)
        outHeader.deallocate()
        inHeader.deallocate()
        scratch.deallocate()
    }
}
