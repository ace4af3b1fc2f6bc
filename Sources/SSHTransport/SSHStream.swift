import CLibSSH
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The thread-safe side of an `SSHStream`: queue bytes for the remote stdin, or ask it to close.
public final class SSHStreamControl: Sendable {
    private struct State {
        var outgoing: [[UInt8]] = []
        var closeRequested = false
        var finished = false
    }

    private let state = Mutex(State())
    let wakeRead: Int32
    let wakeWrite: Int32

    init() throws(SSHError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .channel(host: "", message: "pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    /// Queues bytes for the remote side's stdin. False once the stream has ended.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        let ok = state.withLock { s -> Bool in
            guard !s.finished, !s.closeRequested else { return false }
            s.outgoing.append(bytes)
            return true
        }
        if ok { wake() }
        return ok
    }

    /// Sends EOF and closes the channel (the remote command sees its stdin end).
    public func close() {
        state.withLock { $0.closeRequested = true }
        wake()
    }

    private func wake() {
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
    }

    func take() -> (messages: [[UInt8]], close: Bool) {
        state.withLock { s in
            let m = s.outgoing
            s.outgoing.removeAll()
            return (m, s.closeRequested)
        }
    }

    func markFinished() {
        state.withLock { $0.finished = true }
    }
}

/// A long-lived exec channel. `pump` runs on the session's thread until the channel ends; other threads
/// talk to it through `control`.
public final class SSHStream {
    public enum End: Hashable, Sendable {
        /// The remote command closed its output (it exited).
        case endOfFile
        /// `control.close()` was called.
        case closedLocally
        /// The connection broke (sshd killed, network gone).
        case connectionLost(String)
    }

    public let control: SSHStreamControl
    private let connection: SSHConnection
    private let channel: ssh_channel

    init(connection: SSHConnection, channel: ssh_channel) throws(SSHError) {
        self.connection = connection
        self.channel = channel
        control = try SSHStreamControl()
        SSHLibrary.streamOpened(control)
    }

    private var freed = false

    deinit {
        freeChannel()
        SSHLibrary.streamEnded(control)
    }

    /// Frees the channel unless the session (which frees its channels) is already gone.
    private func freeChannel() {
        guard !freed else { return }
        freed = true
        if !connection.isDisconnected { ssh_channel_free(channel) }
    }

    /// Moves bytes until the channel ends: `onStdout`/`onStderr` get what the remote command prints,
    /// queued sends go to its stdin. Blocking; call on the session's thread.
    public func pump(onStdout: ([UInt8]) -> Bool, onStderr: ([UInt8]) -> Void) -> End {
        let session = connection.session
        let fd = ssh_get_fd(session)
        var buf = [UInt8](repeating: 0, count: 65536)
        var wakeBuf = [UInt8](repeating: 0, count: 256)
        defer {
            control.markFinished()
            SSHLibrary.streamEnded(control)
        }
        func finish(_ end: End) -> End {
            ssh_set_blocking(session, 0)
            if end != .endOfFile || ssh_channel_is_closed(channel) == 0 {
                ssh_channel_send_eof(channel)
                ssh_channel_close(channel)
            }
            freeChannel()
            // The session goes on (e.g. an upload after a deployment request): back to blocking mode.
            if case .connectionLost = end {} else { ssh_set_blocking(session, 1) }
            return end
        }
        while true {
            let (messages, closeRequested) = control.take()
            if closeRequested { return finish(.closedLocally) }
            for m in messages {
                var off = 0
                while off < m.count {
                    let n = m[off...].withUnsafeBytes { ssh_channel_write(channel, $0.baseAddress, UInt32($0.count)) }
                    if n == SSH_ERROR || n < 0 { return finish(.connectionLost(connection.errorText)) }
                    off += Int(n)
                }
            }
            var progressed = false
            for isStderr: Int32 in [0, 1] {
                while true {
                    let n = buf.withUnsafeMutableBytes {
                        ssh_channel_read_nonblocking(channel, $0.baseAddress, UInt32($0.count), isStderr)
                    }
                    if n > 0 {
                        progressed = true
                        if isStderr == 0 {
                            if !onStdout(Array(buf[0..<Int(n)])) { return finish(.closedLocally) }
                        } else {
                            onStderr(Array(buf[0..<Int(n)]))
                        }
                        continue
                    }
                    if n == SSH_ERROR { return finish(.connectionLost(connection.errorText)) }
                    break
                }
            }
            if ssh_channel_is_eof(channel) != 0 && ssh_channel_poll(channel, 0) <= 0 && ssh_channel_poll(channel, 1) <= 0 {
                return finish(.endOfFile)
            }
            if ssh_channel_is_closed(channel) != 0 { return finish(.endOfFile) }
            if ssh_is_connected(session) == 0 { return finish(.connectionLost("disconnected")) }
            if progressed { continue }
            var fds = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: control.wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, 1000)
            if fds[1].revents != 0 { while read(control.wakeRead, &wakeBuf, wakeBuf.count) > 0 {} }
            if fds[0].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0, fds[0].revents & Int16(POLLIN) == 0 {
                return finish(.connectionLost("socket closed"))
            }
        }
    }
}
