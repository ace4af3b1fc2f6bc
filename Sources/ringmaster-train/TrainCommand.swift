import ArgumentParser
import Checkpointing
import Collectives
import Foundation
import RingmasterModel
import TrainerCore

@main
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringmaster-train",
        abstract: "The reference 3-D parallel trainer: a small decoder-only language model on the CPU.",
        discussion: """
            Layout, rendezvous, checkpoint directory and resume step come from the rank environment
            (RANK, WORLD_SIZE, RINGMASTER_{TP,PP,DP}_SIZE, RINGMASTER_RENDEZVOUS, RINGMASTER_TOKEN,
            RINGMASTER_CHECKPOINT_DIR, RINGMASTER_RESUME_STEP); flags override them. Without them it
            trains alone. Exit 86: the checkpoint to resume from is corrupt.
            """)

    @Option(help: "Model size: tiny, small, or micro (for tests).")
    var preset = "tiny"

    @Option(help: "Train until this step.")
    var steps = 200

    @Option(name: .customLong("batch"), help: "Sequences per step over all data-parallel replicas.")
    var globalBatch = 16

    @Option(help: "Micro-batches per step (GPipe).")
    var microBatches = 2

    @Option(help: "Adam learning rate.")
    var lr: Float = 3e-3

    @Option(help: "Seed of the model, the corpus and the data order.")
    var seed: UInt64 = 1

    @Option(help: "Checkpoint every N steps (0 = never).")
    var checkpointEvery = 0

    @Option(help: "Checkpoint directory (default: RINGMASTER_CHECKPOINT_DIR).")
    var checkpointDir: String?

    @Option(help: "Committed steps kept by a world-size-1 run without a controller.")
    var keep = 3

    @Option(help: "Resume from this committed step (default: RINGMASTER_RESUME_STEP).")
    var resumeStep: Int?

    @Flag(help: "Write checkpoints synchronously on the training thread.")
    var syncCheckpoint = false

    @Flag(help: "Print the parameter hash of this rank at the end.")
    var printHash = false

    @Option(help: "Print the loss every N steps (0 = never).")
    var logEvery = 10

    @Option(help: "Take at least this many milliseconds per step, as a slower accelerator would (0 = as fast as it can). The parameters do not change.")
    var minStepMs = 0

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let env = ProcessInfo.processInfo.environment
        guard let model = ModelConfig.preset(preset) else { throw ValidationError("unknown preset \(preset): tiny, small or micro") }
        let (layout, rank, groups) = try Self.groups(env)
        let dir = checkpointDir ?? env["RINGMASTER_CHECKPOINT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let resume = resumeStep ?? env["RINGMASTER_RESUME_STEP"].flatMap { Int($0) }
        let options = TrainingOptions(
            model: model, seed: seed, steps: steps, globalBatch: globalBatch, microBatches: microBatches,
            learningRate: lr, checkpointEvery: checkpointEvery > 0 ? checkpointEvery : nil, checkpointDir: dir,
            keep: keep, asyncCheckpoint: !syncCheckpoint)
        let trainer = try Trainer(options: options, layout: layout, coordinates: layout.coordinates(of: rank),
                                  groups: groups, rank: rank, reporter: RankReporter.fromEnvironment(env))
        if let resume {
            do {
                try trainer.resume(from: resume)
            } catch let error as CheckpointError {
                FileHandle.standardError.write(Data("rank \(rank): \(error)\n".utf8))
                throw ExitCode(CheckpointError.corruptExitCode)
            }
            print("rank \(rank): resumed from step \(resume)")
        }
        let clock = ContinuousClock()
        let start = clock.now
        // A failed step (a peer died) still lets an in-flight checkpoint write finish: its snapshot is good.
        defer { try? trainer.flushCheckpoints() }
        let minStep = Duration.milliseconds(max(0, minStepMs))
        var stepStart = clock.now
        try trainer.run { step, loss in
            if minStep > .zero {
                let due = stepStart + minStep
                if clock.now < due { Thread.sleep(forTimeInterval: (due - clock.now).seconds) }
                stepStart = clock.now
            }
            if let loss, logEvery > 0, step % logEvery == 0 || step == steps, rank == layout.worldSize - layout.tensor * layout.data {
                print(String(format: "step %d loss %.4f", step, loss))
            }
        }
        let seconds = (clock.now - start).seconds
        let done = trainer.step - (resume ?? 0)
        print(String(format: "rank %d: %d steps in %.2f s (%.1f ms/step)", rank, done, seconds,
                     done > 0 ? seconds / Double(done) * 1000 : 0))
        if let stats = trainer.checkpointStatistics, stats.saves > 0 {
            let stall = trainer.checkpointStall.seconds
            print(String(format: "rank %d: %d checkpoints (%.1f MB): %.1f ms on the training thread (%.2f%% of %.2f s), "
                + "%.1f ms writing in the background", rank, stats.saves, Double(stats.bytes) / 1e6, stall * 1000,
                stall / seconds * 100, seconds, stats.writeTime.seconds * 1000))
        }
        if let stats = trainer.checkpointStatistics, stats.failedSaves > 0 {
            print("rank \(rank): \(stats.failedSaves) checkpoint\(stats.failedSaves == 1 ? "" : "s") could not be written "
                + "(the newest: step \(stats.lastFailedStep ?? 0)); see the lines above")
        }
        if printHash { print("parameter-hash rank \(rank) \(trainer.model.params.hash())") }
    }

    /// The layout and this rank's groups: from the rank environment when WORLD_SIZE > 1, else alone.
    static func groups(_ env: [String: String]) throws -> (Parallelism, Int, RankGroups) {
        guard let world = env["WORLD_SIZE"].flatMap(Int.init), world > 1 else {
            return (Parallelism(), 0, .solo)
        }
        let groups = try ProcessGroup.fromEnvironment(env)
        return (groups.parallelism, groups.world.rank,
                RankGroups(tensor: CollectivesCommunicator(groups.tensor), data: CollectivesCommunicator(groups.data),
                           pipeline: CollectivesCommunicator(groups.pipeline)))
    }
}
