#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One frame to send: header plus `length` payload bytes from `payload`, optionally only after
/// a given received frame has completed (that is what pipelines the ring).
struct SendItem {
    var header: FrameHeader
    var payload: UnsafeRawPointer?
    var length: Int
    /// (channel index, ordinal of the receive on that channel) that must be complete first.
    var afterChannel: Int = -1
    var afterOrdinal: Int = 0
}

/// One frame to receive: the header we expect, and where the payload goes — copied straight
/// into `destination`, or read into the link's scratch buffer and reduced into `destination`
/// element by element as it arrives (so the chunk is reduced while it is still in cache).
struct RecvItem {
    var expected: FrameHeader
    var destination: UnsafeMutableRawPointer?
    var length: Int
    var reduce: Bool = false
    /// After the frame is complete, divide its elements by this (the end of `avg`).
    var divideBy: Int = 1
}

/// The data-path engine: moves every queued frame of one operation over its links on the
/// calling thread, full duplex, with non-blocking sockets and poll(2). It never spins: when no
/// socket can make progress it sleeps in poll until one can or the deadline passes.
/// It also watches links it only sends on, so a peer's abort or death is noticed promptly.
struct Exchange {
    struct Channel {
        let link: Link
        var sends: [SendItem] = []
        var recvs: [RecvItem] = []
        var sendCursor = 0, sendOffset = 0
        var recvCursor = 0, recvOffset = 0, reducedBytes = 0
        var readable = true, writable = true
        /// Watch for an incoming abort/EOF while no receive is pending.
        var watching = true
    }

    var channels: [Channel] = []
    let reduceOp: ReduceOp
    let dataType: DataType
    let op: OpKind
    let sequence: UInt64
    let group: String
    /// Frames up to this payload size are read with their header in one system call.
    static let coalescedFrameBytes = 64 << 10

    init(_ op: OpKind, sequence: UInt64, group: String, reduceOp: ReduceOp = .sum, dataType: DataType = .float32) {
        self.op = op
        self.sequence = sequence
        self.group = group
        self.reduceOp = reduceOp
        self.dataType = dataType
    }

    /// For error messages only (built lazily: formatting costs more than a small operation).
    var operation: String { "\(op) #\(sequence) of group \(group)" }

    /// The channel index of `link` (added on first use).
    mutating func channel(_ link: Link) -> Int {
        if let i = channels.firstIndex(where: { $0.link === link }) { return i }
        channels.append(Channel(link: link))
        return channels.count - 1
    }

    /// Adds `link` as a watch-only channel when the operation does not use it.
    mutating func watch(_ link: Link) {
        _ = channel(link)
    }

    mutating func queueSend(_ c: Int, _ item: SendItem) { channels[c].sends.append(item) }
    mutating func queueRecv(_ c: Int, _ item: RecvItem) {
        if item.reduce { channels[c].link.reserveScratch(item.length) }
        channels[c].recvs.append(item)
    }

    private var finished: Bool {
        channels.allSatisfy { $0.sendCursor == $0.sends.count && $0.recvCursor == $0.recvs.count }
    }

    /// Runs until every frame is sent and received, or throws.
    mutating func run(deadline: Deadline) throws(CollectiveError) {
        var fds = [pollfd](repeating: pollfd(), count: channels.count)
        while true {
            var progressed = false
            for c in channels.indices {
                if channels[c].writable, try pumpSend(c) { progressed = true }
                if channels[c].readable, try pumpRecv(c) { progressed = true }
            }
            if finished { return }
            if progressed { continue }
            // Nothing can move: sleep in poll until a socket is ready.
            var waiting = false
            for c in channels.indices {
                let ch = channels[c]
                var events: Int16 = 0
                if ch.recvCursor < ch.recvs.count || ch.watching { events |= Int16(POLLIN) }
                if sendReady(c) { events |= Int16(POLLOUT) }
                fds[c] = pollfd(fd: events == 0 ? -1 : ch.link.fd, events: events, revents: 0)
                if events != 0 { waiting = true }
            }
            guard waiting else { throw .mismatch("internal: \(operation) cannot make progress (schedule bug)") }
            let n = poll(&fds, nfds_t(fds.count), deadline.pollTimeout())
            if n < 0 {
                if errno == EINTR { continue }
                throw .timeout("poll failed in \(operation): errno \(errno)")
            }
            if n == 0 {
                if deadline.hasPassed { throw .timeout(timeoutMessage()) }
                continue
            }
            for c in channels.indices where fds[c].revents != 0 {
                let r = fds[c].revents
                if r & Int16(POLLOUT | POLLERR | POLLHUP) != 0 { channels[c].writable = true }
                if r & Int16(POLLIN | POLLERR | POLLHUP) != 0 {
                    if channels[c].recvCursor < channels[c].recvs.count {
                        channels[c].readable = true
                    } else {
                        try inspectUnexpected(c)
                    }
                }
            }
        }
    }

    private func timeoutMessage() -> String {
        let peers = channels.filter { $0.recvCursor < $0.recvs.count || $0.sendCursor < $0.sends.count }
            .map { $0.link.peerGlobal }
        return "\(operation) did not complete before its deadline; still waiting on rank(s) \(peers)"
    }

    private func sendReady(_ c: Int) -> Bool {
        let ch = channels[c]
        guard ch.sendCursor < ch.sends.count else { return false }
        let item = ch.sends[ch.sendCursor]
        return item.afterChannel < 0 || channels[item.afterChannel].recvCursor > item.afterOrdinal
    }

    /// Writes as much as the socket takes. Returns whether any byte moved.
    private mutating func pumpSend(_ c: Int) throws(CollectiveError) -> Bool {
        var moved = false
        let link = channels[c].link
        while sendReady(c) {
            let item = channels[c].sends[channels[c].sendCursor]
            let offset = channels[c].sendOffset
            if offset == 0 { item.header.encode(into: link.outHeader) }
            let total = FrameHeader.size + item.length
            var iov = (iovec(), iovec())
            var count: Int
            if offset < FrameHeader.size {
                iov.0 = iovec(iov_base: link.outHeader + offset, iov_len: FrameHeader.size - offset)
                iov.1 = iovec(iov_base: UnsafeMutableRawPointer(mutating: item.payload), iov_len: item.length)
                count = item.length > 0 ? 2 : 1
            } else {
                let p = offset - FrameHeader.size
                iov.0 = iovec(iov_base: UnsafeMutableRawPointer(mutating: item.payload! + p), iov_len: item.length - p)
                count = 1
            }
            let n = withUnsafeMutablePointer(to: &iov) { p -> Int in
                p.withMemoryRebound(to: iovec.self, capacity: 2) { iovs in
                    var msg = msghdr()
                    msg.msg_iov = iovs
                    msg.msg_iovlen = count
                    return sendmsg(link.fd, &msg, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { channels[c].writable = false; return moved }
                if errno == EINTR { continue }
                link.midFrameOut = true
                throw lost(c, errno)
            }
            moved = true
            channels[c].sendOffset += n
            if channels[c].sendOffset == total {
                channels[c].sendCursor += 1
                channels[c].sendOffset = 0
                link.midFrameOut = false
            } else {
                link.midFrameOut = true
            }
        }
        return moved
    }

    /// Reads as much as is there for the pending receives. Returns whether any byte moved.
    private mutating func pumpRecv(_ c: Int) throws(CollectiveError) -> Bool {
        var moved = false
        let link = channels[c].link
        while channels[c].recvCursor < channels[c].recvs.count {
            let item = channels[c].recvs[channels[c].recvCursor]
            let offset = channels[c].recvOffset
            if offset == 0 && item.length > 0 && item.length <= min(Exchange.coalescedFrameBytes, link.scratchBytes) {
                // A small frame: header and payload in one recvmsg (the payload lands in the
                // scratch buffer until the header has been checked).
                var iov = (iovec(iov_base: link.inHeader, iov_len: FrameHeader.size),
                           iovec(iov_base: link.scratch, iov_len: item.length))
                let n = withUnsafeMutablePointer(to: &iov) { p -> Int in
                    p.withMemoryRebound(to: iovec.self, capacity: 2) { iovs in
                        var msg = msghdr()
                        msg.msg_iov = iovs
                        msg.msg_iovlen = 2
                        return recvmsg(link.fd, &msg, Int32(MSG_DONTWAIT))
                    }
                }
                if n <= 0 {
                    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { channels[c].readable = false; return moved }
                    if n < 0 && errno == EINTR { continue }
                    throw lost(c, n == 0 ? 0 : errno)
                }
                moved = true
                channels[c].recvOffset = n
                if n < FrameHeader.size { continue }
                let got = n - FrameHeader.size
                try check(c, item, prefetched: got)
                if !item.reduce && got > 0 { item.destination!.copyMemory(from: link.scratch, byteCount: got) }
                landed(c, item, have: got)
                continue
            }
            if offset < FrameHeader.size {
                let n = recv(link.fd, link.inHeader + offset, FrameHeader.size - offset, Int32(MSG_DONTWAIT))
                if n <= 0 {
                    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { channels[c].readable = false; return moved }
                    if n < 0 && errno == EINTR { continue }
                    throw lost(c, n == 0 ? 0 : errno)
                }
                moved = true
                channels[c].recvOffset += n
                if channels[c].recvOffset < FrameHeader.size { continue }
                try check(c, item)
                if item.length == 0 { complete(c) }
                continue
            }
            let got = offset - FrameHeader.size
            let target = item.reduce ? link.scratch : item.destination!
            let n = recv(link.fd, target + got, item.length - got, Int32(MSG_DONTWAIT))
            if n <= 0 {
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { channels[c].readable = false; return moved }
                if n < 0 && errno == EINTR { continue }
                throw lost(c, n == 0 ? 0 : errno)
            }
            moved = true
            channels[c].recvOffset += n
            landed(c, item, have: got + n)
        }
        return moved
    }

    /// `have` payload bytes of the current receive are in: reduce the whole elements among them
    /// that are not reduced yet (a reducing receive), and complete the frame when it is whole.
    private mutating func landed(_ c: Int, _ item: RecvItem, have: Int) {
        if item.reduce {
            let size = dataType.size
            let upTo = have / size * size
            let from = channels[c].reducedBytes
            if upTo > from {
                Reduction.apply(reduceOp, dataType, into: item.destination! + from,
                                from: channels[c].link.scratch + from, count: (upTo - from) / size)
                channels[c].reducedBytes = upTo
            }
        }
        if have == item.length { complete(c) }
    }

    private mutating func complete(_ c: Int) {
        let item = channels[c].recvs[channels[c].recvCursor]
        if item.divideBy != 1, item.length > 0 {
            Reduction.divide(dataType, item.destination!, count: item.length / dataType.size, by: item.divideBy)
        }
        channels[c].recvCursor += 1
        channels[c].recvOffset = 0
        channels[c].reducedBytes = 0
    }

    /// Validates a complete header against the expected frame. `prefetched` bytes that follow
    /// it were already read into the link's scratch buffer (the start of an abort's reason).
    private func check(_ c: Int, _ item: RecvItem, prefetched: Int = 0) throws(CollectiveError) {
        let link = channels[c].link
        switch HeaderCheck.of(link.inHeader, expected: item.expected, length: item.length, peer: link.peerGlobal,
                              operation: operation) {
        case .expected:
            return
        case .abort(let got):
            throw AbortFrame.receive(got, on: link, prefix: Array(UnsafeRawBufferPointer(start: link.scratch, count: prefetched)))
        case .mismatch(let why):
            throw .mismatch(why)
        }
    }

    /// Data arrived on a link with no pending receive: an abort (fail with its reason), EOF,
    /// or the next operation's frames (which stay queued; stop watching that link).
    private mutating func inspectUnexpected(_ c: Int) throws(CollectiveError) {
        let link = channels[c].link
        let n = recv(link.fd, link.inHeader, FrameHeader.size, Int32(MSG_PEEK | MSG_DONTWAIT))
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) { return }
        if n <= 0 {
            // EOF or reset on a link this operation does not need (any more): a peer that has
            // finished and exited is no error here; if its data is needed, the read says so.
            channels[c].watching = false
            return
        }
        if n == FrameHeader.size, let h = FrameHeader.decode(link.inHeader), h.kind == OpKind.abort.rawValue {
            _ = recv(link.fd, link.inHeader, FrameHeader.size, Int32(MSG_DONTWAIT))
            throw AbortFrame.receive(h, on: link)
        }
        if n == FrameHeader.size { channels[c].watching = false }
    }

    /// A link failed (EOF, reset, broken pipe). If the peer left an abort frame first, report
    /// its reason; otherwise the peer is lost.
    private func lost(_ c: Int, _ code: Int32) -> CollectiveError {
        let link = channels[c].link
        if channels[c].recvOffset == 0,
           recv(link.fd, link.inHeader, FrameHeader.size, Int32(MSG_PEEK | MSG_DONTWAIT)) == FrameHeader.size,
           let h = FrameHeader.decode(link.inHeader), h.kind == OpKind.abort.rawValue {
            _ = recv(link.fd, link.inHeader, FrameHeader.size, Int32(MSG_DONTWAIT))
            return AbortFrame.receive(h, on: link)
        }
        return .peerLost(rank: link.peerGlobal)
    }
}
