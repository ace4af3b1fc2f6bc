import AgentProtocol
import RingmasterModel
import SystemUtilities

/// Warm interpreters: the controller sizes a kind's pool (`warm-pool`), a launch that names the kind takes a
/// waiting interpreter (`launch`), and the timers refill the pool.
extension AgentCore {
    mutating func resizeWarmPool(_ request: WarmPoolRequest, now: Duration) {
        guard shutdown == nil else { return }
        let delay = request.refillDelayMilliseconds.map { Duration.milliseconds(max($0, 0)) }
        for pid in warm.resize(request.spec, to: max(request.size, 0), refillDelay: delay, now: now) {
            actions.append(.signalGroup(pid: pid, signal: Signal.kill))
        }
    }

    mutating func warmStarted(_ spec: WarmSpec, pid: Int32) {
        // Dropped (or the agent began stopping) while it started: it goes at once.
        if shutdown != nil || !warm.started(spec, pid: pid) {
            actions.append(.signalGroup(pid: pid, signal: Signal.kill))
            if shutdown != nil { stoppedWarm.append(pid) }
        }
    }

    mutating func warmStartFailed(_ spec: WarmSpec, reason: String, now: Duration) {
        report(warm.startFailed(spec, reason: reason, now: now), spec, reason: reason)
    }

    mutating func warmFailed(_ spec: WarmSpec, reason: String, now: Duration) {
        report(warm.failed(spec, reason: reason, now: now), spec, reason: reason)
    }

    /// Logs a failure of the kind, and that the kind is off when this one turned it off.
    private mutating func report(_ outcome: Bool?, _ spec: WarmSpec, reason: String) {
        guard let disabled = outcome else { return }
        actions.append(.log(reason))
        if disabled {
            actions.append(.log("warm interpreters of \(spec.python) (preload \(spec.preload.joined(separator: ", "))) are off "
                                + "after \(warm.failureLimit) exits before any launch: launches start processes"))
        }
    }

    /// A waiting interpreter died: a failure of its kind, with the end of what it wrote as the reason. One that
    /// was taken for a launch or stopped is not waiting, so not counted.
    mutating func warmExited(_ pid: Int32, _ termination: POSIX.Termination, output: String, now: Duration) {
        guard let spec = warm.exited(pid) else { return }
        let how: String
        switch termination {
        case .exited(let code): how = "exited with status \(code)"
        case .signaled(let signal): how = "was killed by signal \(signal)"
        }
        let tail = output.split(separator: "\n").suffix(3).joined(separator: " | ")
        warmFailed(spec, reason: "warm interpreter \(pid) of \(spec.python) \(how) before a launch"
                   + (tail.isEmpty ? "" : ": \(tail)"), now: now)
    }
}
