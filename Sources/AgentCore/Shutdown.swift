/// The agent's way out once the controller is gone (or broke the protocol): every rank got SIGTERM at `began`;
/// those still running at `killAt` get SIGKILL; the agent exits when the last rank is reaped, or at `exitBy`
/// whatever is left.
public struct Shutdown: Hashable, Sendable {
    public let reason: String
    public let killAt: Duration
    public let exitBy: Duration
    public private(set) var killSent = false

    public init(reason: String, at now: Duration, grace: Duration, exitBound: Duration) {
        self.reason = reason
        killAt = now + grace
        exitBy = killAt + exitBound
    }

    /// True once, when SIGKILL is due.
    public mutating func takeKillDue(at now: Duration) -> Bool {
        guard !killSent, now >= killAt else { return false }
        killSent = true
        return true
    }

    public func exitDue(at now: Duration) -> Bool { now >= exitBy }

    /// When this shutdown next needs the time.
    public var nextWake: Duration { killSent ? exitBy : killAt }
}
