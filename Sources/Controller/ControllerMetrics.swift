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
            descriptor: Self.name("failure_detection", unit: "seconds", "Failure → detection, per failure (fault manager)."),
            buckets: buckets)
        recoverySeconds = registry.makeDurationHistogram(
            descriptor: Self.name("recovery", unit: "seconds", "Detection → first step of the new attempt, per failure (fault manager)."),
            buckets: buckets)
    }

    func stepsPerSecond(job: JobID, _ value: Double) {
        let gauge = stepRates.withLock { gauges in
            if let g = gauges[job] { return g }
            let g = registry.makeGauge(
                descriptor: Self.name("job_steps_per_second", "Training steps per second of a running job's newest attempt."),
                labels: [("job", job.rawValue)])
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
            let c = registry.makeCounter(
                descriptor: Self.name("restarts", unit: "total", "Attempts started to recover a job, by failure kind."),
                labels: [("kind", kind)])
            counters[kind] = c
            return c
        }
        counter.increment()
    }

    /// `ringmaster_<metric>[_<unit>]`, with its help text.
    private static func name(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ringmaster", metricName: metric, unitName: unit, helpText: help)
    }

    /// The exposition text, with node and job gauges refreshed from the store.
    public func render(store: RingmasterStore) -> String {
        if let nodes = try? store.nodes() {
            for state in NodeState.allCases {
                registry.makeGauge(descriptor: Self.name("nodes", "Nodes by state."), labels: [("state", state.rawValue)]).set(Double(nodes.filter { $0.state == state }.count))
            }
        }
        if let jobs = try? store.jobCounts() {
            for state in JobState.allCases {
                registry.makeGauge(descriptor: Self.name("jobs", "Jobs by state."), labels: [("state", state.rawValue)]).set(Double(jobs.byState[state] ?? 0))
            }
            registry.makeGauge(descriptor: Self.name("job_restarts", "Restarts of all jobs, from the store.")).set(Double(jobs.restarts))
        }
        registry.makeGauge(descriptor: Self.name("store_transactions_total", "Write transactions the state store committed."))
            .set(Double(store.transactionsCommitted))
        return registry.emitToString()
    }
}
