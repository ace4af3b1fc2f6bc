import CLibSSH
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The process-wide life of libssh: initialised once before the first session, every live session
/// counted, and finalised once after the last one has been freed.
///
/// Why: libssh sits on OpenSSL, whose `OPENSSL_cleanup` runs from an `atexit` handler. A session thread
/// still closing a channel when a thread calls `exit()` then takes a lock that cleanup has already freed
/// (signal 11, issue 18). A process that used SSH therefore calls `shutdown(within:)` before it exits:
/// it refuses new sessions, asks every open stream to close, waits (bounded) until every session has
/// been disconnected and freed on its own thread, and only then calls `ssh_finalize`. The `ringmaster`
/// executable does so on every way out of its `main` (the end of a command, a thrown error, `--help`,
/// bad arguments; the controller's SIGTERM shutdown ends there too).
///
/// An `atexit` handler is a second line for other executables: it waits for live sessions the same way
/// but never finalises, since handlers run last-in first-out and OpenSSL registers its cleanup lazily,
/// so whether ours runs before or after OpenSSL's cannot be relied on (seen here: after).
public enum SSHLibrary {
    private final class Registry: @unchecked Sendable {
        let condition = NSCondition()
        var initialized = false
        var finalized = false
        var closing = false
        var liveSessions = 0
        var streams: [ObjectIdentifier: SSHStreamControl] = [:]
    }

    private static let registry = Registry()

    /// How long the exit handler waits for session threads to end.
    public static let exitWait: Duration = .seconds(10)

    /// Why a session cannot start.
    public struct Closed: Error, CustomStringConvertible {
        public var description: String { "SSH is shutting down: the process is exiting, no new session can start" }
    }

    /// Counts a new session (initialising libssh the first time). Throws once shutdown has begun.
    static func sessionStarting(host: String, port: Int) throws(SSHError) {
        let r = registry
        r.condition.lock()
        defer { r.condition.unlock() }
        guard !r.closing, !r.finalized else {
            throw .connect(host: host, port: port, message: Closed().description)
        }
        if !r.initialized {
            guard ssh_init() == 0 else { throw .connect(host: host, port: port, message: "ssh_init failed") }
            r.initialized = true
            atexit { _ = SSHLibrary.waitForSessions(within: SSHLibrary.exitWait) }
        }
        r.liveSessions += 1
    }

    /// A session was disconnected and freed.
    static func sessionEnded() {
        let r = registry
        r.condition.lock()
        r.liveSessions -= 1
        r.condition.broadcast()
        r.condition.unlock()
    }

    static func streamOpened(_ control: SSHStreamControl) {
        let r = registry
        r.condition.lock()
        let closing = r.closing
        if !closing { r.streams[ObjectIdentifier(control)] = control }
        r.condition.unlock()
        if closing { control.close() }
    }

    static func streamEnded(_ control: SSHStreamControl) {
        let r = registry
        r.condition.lock()
        r.streams[ObjectIdentifier(control)] = nil
        r.condition.unlock()
    }

    /// Sessions not yet disconnected and freed.
    public static var liveSessions: Int {
        registry.condition.lock()
        defer { registry.condition.unlock() }
        return registry.liveSessions
    }

    /// Refuses new sessions, asks every open stream to close, waits until every session thread has
    /// disconnected and freed its session (at most `limit`), then finalises libssh once. Returns false
    /// when sessions were still alive at the limit (libssh is then left initialised: finalising under a
    /// live session is what crashes). Blocking; call it on a thread of its own or at the very end.
    @discardableResult
    public static func shutdown(within limit: Duration) -> Bool {
        guard waitForSessions(within: limit) else { return false }
        let r = registry
        r.condition.lock()
        defer { r.condition.unlock() }
        if r.initialized, !r.finalized {
            r.finalized = true
            ssh_finalize()
        }
        return true
    }

    /// The first half of `shutdown`: no new sessions, streams asked to close, live sessions waited for.
    @discardableResult
    static func waitForSessions(within limit: Duration) -> Bool {
        let r = registry
        r.condition.lock()
        r.closing = true
        let streams = Array(r.streams.values)
        r.condition.unlock()
        streams.forEach { $0.close() }
        let deadline = Date(timeIntervalSinceNow: limit.seconds)
        r.condition.lock()
        defer { r.condition.unlock() }
        while r.liveSessions > 0 {
            if !r.condition.wait(until: deadline) { break }
        }
        return r.liveSessions == 0
    }
}

extension Duration {
    /// Seconds as a floating-point number (this module has no RingmasterModel, which has the same).
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
