// Processes the integration tests start, stop and kill. Not part of the product.
import Foundation
@_spi(Testing) import Checkpointing
@_spi(Testing) import StateStore

/// Unbuffered line on stdout: the test reads it while this process is still running.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
let args = CommandLine.arguments

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: ringmaster-fixture store-writer DB BATCHES BATCH_SIZE | store-locker DB | store-truncate-wal DB | checkpoint-writer DIR | shard-writer DIR STEP RANKS\n".utf8))
    exit(64)
}

guard args.count >= 2 else { usage() }
switch args[1] {
case "store-writer":
    // Commits BATCHES transactions of BATCH_SIZE events ("committed N" after each), then opens one more
    // transaction, writes far more than the page cache holds into it so pages spill to the WAL, prints
    // "holding" and blocks until killed.
    guard args.count == 5, let batches = Int(args[3]), let size = Int(args[4]) else { usage() }
    let store = try RingmasterStore.open(path: args[2])
    let payload = EventRecord.payload(["filler": String(repeating: "x", count: 512)])
    for b in 1...batches {
        try store.recordEvents((0..<size).map {
            EventRecord(time: Date(), kind: .rankStarted, rank: $0, message: "batch \(b)", payload: payload)
        })
        say("committed \(b)")
    }
    try store.withWriteTransaction { insert in
        for i in 0..<20_000 {
            try insert(EventRecord(time: Date(), kind: .rankStarted, rank: i, message: "uncommitted", payload: payload))
        }
        say("holding")
        while true { pause() }
    }
case "store-locker":
    // Opens the database DB, takes its write lock (BEGIN EXCLUSIVE), prints "locked" and holds it until
    // killed: another process holding the state database locked.
    guard args.count == 3 else { usage() }
    let store = try RingmasterStore.open(path: args[2])
    try store.holdingWriteLock {
        say("locked")
        while true { pause() }
    }
case "store-truncate-wal":
    // Checkpoints DB's WAL into the file and truncates it (the next write needs new space), then exits.
    guard args.count == 3 else { usage() }
    try RingmasterStore.open(path: args[2]).truncateWAL()
    say("truncated")
case "checkpoint-writer":
    // Commits step 1 of a world-size-1 run, then starts saving step 2 (async) and stops for good
    // after its first blob file is durable, printing "mid-write": the test kills it there.
    guard args.count == 3 else { usage() }
    let saver = Checkpointer(.init(directory: args[2], rank: 0, worldSize: 1, keep: 3, async: true))
    let blob = CheckpointSnapshot.blob([Float](repeating: 1.5, count: 1 << 20))
    try saver.save(CheckpointSnapshot(step: 1, blobs: ["a": blob, "b": blob], dataPosition: 10, rngState: [1, 2]))
    try saver.flush()
    say("committed 1")
    saver.setAfterFileHook { _ in
        say("mid-write")
        while true { pause() }
    }
    try saver.save(CheckpointSnapshot(step: 2, blobs: ["a": blob, "b": blob], dataPosition: 20, rngState: [3, 4]))
    while true { pause() }
case "shard-writer":
    // Writes step STEP of RANKS ranks with the Swift library (blobs "weights" and "adam m", data position
    // 64·STEP, RNG words [STEP, 7]) and commits it: the Python package's tests read and verify it.
    guard args.count == 5, let step = Int(args[3]), let ranks = Int(args[4]), ranks >= 1 else { usage() }
    for rank in 0..<ranks {
        let saver = Checkpointer(.init(directory: args[2], rank: rank, worldSize: ranks, async: false, commitLocally: false))
        let weights = CheckpointSnapshot.blob((0..<1000).map { Float($0 + rank) })
        try saver.save(CheckpointSnapshot(step: step, blobs: ["weights": weights, "adam m": CheckpointSnapshot.blob([Double(step)])],
                                          dataPosition: UInt64(64 * step), rngState: [UInt64(step), 7]))
    }
    try CommitMarker.write(CheckpointLayout(directory: args[2]), step: step, worldSize: ranks, job: "swift-1.000000000001", at: Date())
    say("committed \(step)")
default:
    usage()
}
