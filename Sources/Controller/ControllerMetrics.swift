import Foundation
import Prometheus
import RingmasterModel
import StateStore
import Synchronization

/// `/metrics`: Prometheus text. State gauges are read from the store at scrape time; steps/s comes from
/// the runner; restarts, detection latency and recovery time are recorded by the fault manager.
public final class ControllerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let stepRates = Mutex<[JobID: Gauge]>([:])
    public let detectionSeconds: DurationHistogram
    public let recoverySeconds: DurationHistogram
    private let restartCounters = Mutex<[String: Counter]>([:])

    public init() {
        let buckets: [Duration] = [.milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
                                   .seconds(3), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300)]
        detectionSeconds = registry.makeDurationHistogram(
            name: "ringmaster_failure_detection_seconds", buckets: buckets,
            help: "Failure → detection, per failure (fault manager).")
        recoverySeconds = registry.makeDurationHistogram(
            name: "ringmaster_recovery_seconds", buckets: buckets,
            help: "Detection → first step of the new attempt, per failure (fault manager).")
    }

    func stepsPerSecond(job: JobID, _ value: Double) {
        let gauge = stepRates.withLock { gauges in
            if let g = gauges[job] { return g }
            let g = registry.makeGauge(name: "ringmaster_job_steps_per_second", labels: [("job", job.rawValue)],
                                       help: "Training steps per second of a running job's newest attempt.")
            gauges[job] = g
            return g
        }
        gauge.set(value)
    }

    func jobEnded(_ job: JobID) {
        if let g = stepRates.withLock({ $0.removeValue(forKey: job) }) { registry.unregisterGauge(g) }
    }

    /// Counts a restart of `kind` (a failure kind, or `controller-restart`).
    public func restarted(kind: String) {
        let counter = restartCounters.withLock { counters in
            if let c = counters[kind] { return c }
            let c = registry.makeCounter(name: "ringmaster_restarts_total", labels: [("kind", kind)],
                                         help: "Attempts started to recover a job, by failure kind.")
            counters[kind] = c
            return c
        }
        counter.increment()
    }

    /// The exposition text, with node and job gauges refreshed from the store.
    public func render(store: RingmasterStore) -> String {
        if let nodes = try? store.nodes() {
            for state in NodeState.allCases {
                registry.makeGauge(name: "ringmaster_nodes", labels: [("state", state.rawValue)],
                                   help: "Nodes by state.").set(Double(nodes.filter { $0.state == state }.count))
            }
        }
        if let jobs = try? store.jobs() {
            for state in JobState.allCases {
                registry.makeGauge(name: "ringmaster_jobs", labels: [("state", state.rawValue)],
                                   help: "Jobs by state.").set(Double(jobs.filter { $0.state == state }.count))
            }
            registry.makeGauge(name: "ringmaster_job_restarts", help: "Restarts of all jobs, from the store.")
                .set(Double(jobs.map(\.restarts).reduce(0, +)))
        }
        return registry.emitToString()
    }
}
