import Foundation
import Planning
import RingmasterModel

/// The human-readable `ringmaster plan` table.
struct PlanReport {
    var name: String
    var model: ModelShape
    var hardware: HardwareProfile
    var plan: CapacityPlan

    var text: String {
        let l = plan.layout
        let m = plan.memory
        let r = plan.reliability
        let tp = plan.tensorParallel
        let factor = model.recompute == .full ? "8" : "6"
        let rows: [(String, String)] = [
            ("Compute", ""),
            ("  training FLOPs", "\(sci(plan.trainingFLOPs))  (\(factor)·P·T, P = \(count(model.parameters)), "
                + "T = \(count(model.trainingTokens)) tokens)"),
            ("  accelerator-hours", "\(grouped(plan.acceleratorHours))  at \(count(hardware.peakFLOPS, unit: "FLOP/s")) peak, "
                + "MFU \(pct(hardware.mfu))"),
            ("  wall clock", String(format: "%.1f days on %d accelerators", plan.wallClockDays, plan.accelerators)),
            ("Memory per accelerator", ""),
            ("  weights", gib(m.weightsBytes)),
            ("  gradients", gib(m.gradientsBytes)),
            ("  optimizer (Adam)", gib(m.optimizerBytes) + (model.zeroStage > 0 ? "  (ZeRO-\(model.zeroStage))" : "")),
            ("  activations", gib(m.activationsBytes) + "  (\(model.recompute.rawValue) recompute, "
                + "\(model.sequenceParallel ? "sequence parallel, " : "")\(model.schedule.rawValue))"),
            ("  total", "\(gib(m.perAcceleratorBytes)) of \(gib(m.capacityBytes)) — "
                + (plan.fits ? "fits, \(gib(m.marginBytes)) to spare" : "DOES NOT FIT, \(gib(-m.marginBytes)) over")),
            ("  whole job", tb(m.totalBytes)),
            ("  minimum that fits", plan.minimumLayout.map { "\($0.worldSize) accelerators (data \($0.data) × pipeline "
                + "\($0.pipeline) × tensor \($0.tensor))" } ?? "no layout fits this accelerator"),
            ("Tensor parallelism", ""),
            ("  compute per byte", "\(Int(tp.computePerByte)) FLOP/B vs machine balance \(Int(tp.machineBalance)) "
                + "FLOP/B → " + (tp.communicationBound ? "communication-bound" : "compute-bound")),
            ("  largest efficient t", tp.largestEfficientTensor.map(String.init) ?? "none"),
            ("Reliability", ""),
            ("  cluster MTBF", String(format: "%.2f hours (%@ per accelerator ÷ %d)", r.clusterMTBFHours,
                                      hardware.mtbfPerAccelerator.manifestText, plan.accelerators)),
            ("  checkpoint interval", String(format: "%.1f minutes (Young/Daly √(2·C·MTBF), C = %@)",
                                             r.checkpointIntervalMinutes, hardware.checkpointWrite.manifestText)),
            ("  expected failures", String(format: "%.0f over the run", r.expectedFailures)),
            ("  expected ETTR", String(format: "%.1f%% (restart %@ per failure)", r.expectedETTR * 100,
                                       hardware.restart.manifestText)),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        let header = "Capacity plan for \(name): \(plan.accelerators) accelerators (data \(l.data) × pipeline "
            + "\(l.pipeline) × tensor \(l.tensor))"
        return ([header, ""] + rows.map { $0.1.isEmpty ? $0.0 : $0.0.padding(toLength: width, withPad: " ",
                                                                              startingAt: 0) + "  " + $0.1 })
            .joined(separator: "\n") + (plan.warnings.isEmpty ? "" : "\nWarnings\n" + plan.warnings.map { "  ! \($0)" }
                .joined(separator: "\n"))
    }

    func sci(_ v: Double) -> String { String(format: "%.3g", v) }
    func pct(_ v: Double) -> String { String(format: "%.0f%%", v * 100) }
    func gib(_ v: Double) -> String { String(format: "%.1f GiB", v / 1_073_741_824) }
    func tb(_ v: Double) -> String { String(format: "%.2f TiB", v / 1_099_511_627_776) }

    func grouped(_ v: Double) -> String {
        let digits = String(Int64(v.rounded()))
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    /// 175e9 → "175B", 2e12 → "2T"; with a unit, 312e12 → "312 TFLOP/s".
    func count(_ v: Double, unit: String? = nil) -> String {
        for (scale, suffix) in [(1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")] where v >= scale {
            let number = String(format: "%g", (v / scale * 100).rounded() / 100)
            guard let unit else { return number + suffix }
            return "\(number) \(suffix == "B" ? "G" : suffix)\(unit)"
        }
        return String(format: "%g", v) + (unit.map { " \($0)" } ?? "")
    }
}
