import Foundation
import RingmasterModel
import Synchronization
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// What a link does to every frame that crosses it, the same in both directions (the shape of
/// `tc qdisc add dev D root netem delay D loss P`).
public struct LinkImpairment: Hashable, Sendable, CustomStringConvertible {
    /// Each frame is held this long, in the order it came (no reordering).
    public var delay: Duration
    /// The fraction (0…1) of frames dropped, each drawn on its own.
    public var loss: Double

    public init(delay: Duration = .zero, loss: Double = 0) {
        self.delay = delay
        self.loss = loss
    }

    public var description: String { "delay \(delay.manifestText) loss \(Int((loss * 100).rounded()))%" }
}

/// A user-space `netem` for one host's link of a `NetnsCluster`, for kernels built without `sch_netem` (this
/// one has no netem, no gact action and no modules to load; `tbf` only shapes rate). The host's port on the
/// switch is taken off the bridge and a veth pair put on it instead; a thread in the switch namespace moves
/// every Ethernet frame between the two through a packet socket on each (`AF_PACKET` with `PACKET_VNET_HDR`, so
/// TSO/GSO frames pass whole, as they do through a qdisc), holding each for `delay` and dropping a seeded
/// random `loss` of them. Every protocol on the link (the controller's SSH session, the rendezvous, the rings)
/// sees the delay and the loss, as on a real degraded link. `remove()` puts the port back on the bridge.
public final class DelayLine: Sendable {
    public struct Counters: Hashable, Sendable {
        /// Frames that crossed towards the host and from it.
        public var toHost = 0
        public var fromHost = 0
        /// Frames the line dropped (its loss), and frames the kernel would not take on the way out.
        public var dropped = 0
        public var sendFailed = 0
    }

    public let switchNamespace: String
    public let hostPort: String
    let bridgePort: String
    let relayPort: String
    public let impairment: LinkImpairment
    private let counters = Mutex(Counters())
    private let stopPipe: (read: Int32, write: Int32)
    private let finished = DispatchSemaphore(value: 0)
    private let relayRunning = Mutex(false)

    public var counted: Counters { counters.withLock { $0 } }

    private init(switchNamespace: String, hostPort: String, index: Int, impairment: LinkImpairment) throws {
        self.switchNamespace = switchNamespace
        self.hostPort = hostPort
        bridgePort = "dl\(index)a"
        relayPort = "dl\(index)b"
        self.impairment = impairment
        stopPipe = try POSIX.makePipe()
    }

    public struct SetupFailed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Puts a delay line on `hostPort` (a bridge port in `switchNamespace`) and returns once frames flow
    /// through it.
    static func install(switchNamespace sw: String, hostPort: String, index: Int, impairment: LinkImpairment, seed: UInt64) async throws
        -> DelayLine
    {
        let line = try DelayLine(switchNamespace: sw, hostPort: hostPort, index: index, impairment: impairment)
        func ip(_ args: String...) async throws {
            try await ChildProcess.run(["ip", "-n", sw] + args, mergeStderr: true).check()
        }
        try await ip("link", "add", line.relayPort, "type", "veth", "peer", "name", line.bridgePort)
        do {
            try await ip("link", "set", line.relayPort, "up")
            try await ip("link", "set", line.bridgePort, "up")
            // The relay's sockets first, so that no frame is lost once the port is off the bridge but for those
            // in flight during the two commands below.
            try await line.startRelay(seed: seed)
            try await ip("link", "set", hostPort, "nomaster")
            try await ip("link", "set", line.bridgePort, "master", "br0")
        } catch {
            await line.stopRelay()
            _ = try? await ChildProcess.run(["ip", "-n", sw, "link", "del", line.bridgePort], mergeStderr: true)
            _ = try? await ChildProcess.run(["ip", "-n", sw, "link", "set", hostPort, "master", "br0"], mergeStderr: true)
            throw error
        }
        return line
    }

    /// The host's port back on the bridge, the relay stopped and its links deleted (frames still held are lost,
    /// as when a netem qdisc is deleted).
    public func remove() async {
        _ = try? await ChildProcess.run(["ip", "-n", switchNamespace, "link", "set", bridgePort, "nomaster"], mergeStderr: true)
        _ = try? await ChildProcess.run(["ip", "-n", switchNamespace, "link", "set", hostPort, "master", "br0"], mergeStderr: true)
        await stopRelay()
        _ = try? await ChildProcess.run(["ip", "-n", switchNamespace, "link", "del", bridgePort], mergeStderr: true)
    }

    private func stopRelay() async {
        guard relayRunning.withLock({ r in defer { r = false }; return r }) else { return }
        var b: UInt8 = 1
        guard write(stopPipe.write, &b, 1) == 1 else { return }
        _ = try? await onDedicatedThread(name: "delay line stop") { [finished] in finished.wait() }
    }

    deinit {
        close(stopPipe.read)
        close(stopPipe.write)
    }

    // MARK: The relay thread

    private func startRelay(seed: UInt64) async throws {
        let (sw, host, relay) = (switchNamespace, hostPort, relayPort)
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            runOnDedicatedThread(name: "delay line \(host)") { [self] in
                let fds: (Int32, Int32)
                do {
                    // The sockets belong to the namespace the thread is in when it makes them.
                    try Self.enterNetworkNamespace("/run/netns/\(sw)")
                    let a = try Self.packetSocket(interface: host)
                    let b: Int32
                    do { b = try Self.packetSocket(interface: relay) } catch {
                        close(a)
                        throw error
                    }
                    fds = (a, b)
                } catch {
                    c.resume(throwing: error)
                    return
                }
                relayRunning.withLock { $0 = true }
                c.resume()
                relayLoop(host: fds.0, bridge: fds.1, seed: seed)
                close(fds.0)
                close(fds.1)
                finished.signal()
            }
        }
    }

    static func enterNetworkNamespace(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SetupFailed(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // setns(2) is a GNU extension that Swift's Glibc module does not export: looked up in libc.
        typealias SetNS = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "setns") else { throw SetupFailed(description: "no setns in libc") }
        let setns = unsafeBitCast(symbol, to: SetNS.self)
        guard setns(fd, 0x4000_0000 /* CLONE_NEWNET */) == 0 else {
            throw SetupFailed(description: "setns \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A raw packet socket bound to `interface`, every protocol, with a virtio-net header before each frame
    /// (GSO frames larger than the MTU pass whole), and blind to the frames it sends itself.
    static func packetSocket(interface: String) throws -> Int32 {
        let ethPAll = UInt16(3)  // ETH_P_ALL
        let solPacket: Int32 = 263, packetVnetHdr: Int32 = 15, packetIgnoreOutgoing: Int32 = 23
        let index = if_nametoindex(interface)
        guard index != 0 else { throw SetupFailed(description: "no interface \(interface)") }
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
                        Int32(ethPAll.bigEndian))
        guard fd >= 0 else { throw SetupFailed(description: "packet socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        for option in [packetVnetHdr, packetIgnoreOutgoing] {
            guard setsockopt(fd, solPacket, option, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
                let e = String(cString: strerror(errno))
                close(fd)
                throw SetupFailed(description: "packet socket option \(option) on \(interface): \(e)")
            }
        }
        // struct sockaddr_ll: family (u16), protocol (be16), ifindex (i32), hatype (u16), pkttype, halen, addr[8].
        var address = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: ethPAll.bigEndian) { address.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: Int32(index)) { address.replaceSubrange(4..<8, with: $0) }
        let rc = address.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 20) }
        guard rc == 0 else {
            let e = String(cString: strerror(errno))
            close(fd)
            throw SetupFailed(description: "bind packet socket to \(interface): \(e)")
        }
        return fd
    }

    /// Frames held for one direction, oldest first (every frame waits the same delay, so due times only grow).
    private struct HeldFrames {
        var frames: [(due: UInt64, bytes: [UInt8])] = []
        var start = 0
        var next: UInt64? { start < frames.count ? frames[start].due : nil }

        mutating func append(_ bytes: [UInt8], due: UInt64) { frames.append((due, bytes)) }

        mutating func takeDue(at now: UInt64) -> [[UInt8]] {
            var out: [[UInt8]] = []
            while start < frames.count, frames[start].due <= now {
                out.append(frames[start].bytes)
                start += 1
            }
            if start > 4096 || start == frames.count {
                frames.removeFirst(start)
                start = 0
            }
            return out
        }
    }

    private func relayLoop(host hostFD: Int32, bridge relayFD: Int32, seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let delay = UInt64(max(0, impairment.delay.seconds) * 1e9)
        // Side 0 reads the host's port and its frames leave by the relay port (towards the bridge), side 1 the
        // other way round: `held[side]` waits to go out of `out[side]`.
        var held = [HeldFrames(), HeldFrames()]
        let out = [relayFD, hostFD]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 17, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let now = POSIX.monotonicNanoseconds()
            var timeout: Int32 = 1000
            if let due = held.compactMap(\.next).min() {
                // Whole milliseconds, rounded up: a frame leaves at most a millisecond (and a wake-up) late.
                timeout = due > now ? Int32(min((due - now + 999_999) / 1_000_000, 1000)) : 0
            }
            var fds = [
                pollfd(fd: hostFD, events: Int16(POLLIN), revents: 0), pollfd(fd: relayFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, nfds_t(fds.count), timeout)
            if fds[2].revents != 0 { return }
            let arrived = POSIX.monotonicNanoseconds()
            for side in 0..<2 where fds[side].revents != 0 {
                // At most a bounded batch per wake, so one busy direction cannot starve the other's deadlines.
                for _ in 0..<256 {
                    let n = recv(fds[side].fd, buffer.baseAddress!, buffer.count, 0)
                    if n <= 0 { break }
                    if impairment.loss > 0, random.nextUnit() < impairment.loss {
                        counters.withLock { $0.dropped += 1 }
                        continue
                    }
                    held[side].append(Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n])), due: arrived + delay)
                }
            }
            let sendAt = POSIX.monotonicNanoseconds()
            for side in 0..<2 {
                let frames = held[side].takeDue(at: sendAt)
                guard !frames.isEmpty else { continue }
                let failed = frames.count(where: { frame in frame.withUnsafeBytes { send(out[side], $0.baseAddress!, $0.count, 0) } < 0 })
                counters.withLock { c in
                    if side == 0 { c.fromHost += frames.count - failed } else { c.toHost += frames.count - failed }
                    c.sendFailed += failed
                }
            }
        }
    }
}

/// A small seeded generator (SplitMix64), so a run's drops can be replayed from its seed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<1.
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
