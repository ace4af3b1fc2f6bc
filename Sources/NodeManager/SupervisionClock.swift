/// Time for the node manager: monotonic, since an arbitrary origin. Tests use a manual one.
public protocol SupervisionClock: Sendable {
    func now() -> Duration
    /// Returns at `deadline` or throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Duration) async throws
}

/// The real clock.
public struct SystemSupervisionClock: SupervisionClock {
    private let origin = ContinuousClock.now
    public init() {}
    public func now() -> Duration { ContinuousClock.now - origin }
    public func sleep(until deadline: Duration) async throws {
        try await ContinuousClock().sleep(until: origin + deadline, tolerance: .milliseconds(5))
    }
}
