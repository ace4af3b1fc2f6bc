import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// Appends samples to a job's metric series in one transaction, downsampling as it goes
    /// (`SeriesDownsampling`): a sample joins the newest point while it holds fewer than the series'
    /// width, and a series past `capacity` points is halved (pairs merged, width doubled). The runner
    /// calls it about once a second with what arrived since.
    public func appendSeries(job: JobID, _ samples: [String: [SeriesSample]],
                             capacity: Int = SeriesDownsampling.capacity) throws {
        let samples = samples.mapValues { $0.filter(\.value.isFinite) }.filter { !$0.key.isEmpty && !$0.value.isEmpty }
        guard !samples.isEmpty else { return }
        try transaction { db in
            for (metric, list) in samples.sorted(by: { $0.key < $1.key }) {
                try Self.append(job: job, metric: metric, list, capacity: capacity, db)
            }
        }
    }

    static func append(job: JobID, metric: String, _ samples: [SeriesSample], capacity: Int, _ db: Database) throws {
        var width = 1
        var count = 0
        if let row = try Row.fetchOne(db, sql: "SELECT width, points FROM series WHERE jobId = ? AND metric = ?",
                                      arguments: [job.rawValue, metric]) {
            width = row["width"]
            count = row["points"]
        } else {
            try db.execute(sql: "INSERT INTO series (jobId, metric, width, points) VALUES (?, ?, 1, 0)",
                           arguments: [job.rawValue, metric])
        }
        var last = try lastPoint(job: job, metric: metric, db)
        for sample in samples {
            let (point, joined) = SeriesDownsampling.absorb(sample, into: last?.point, width: width)
            let seq = joined ? last!.seq : (last.map { $0.seq + 1 } ?? 0)
            try write(point, job: job, metric: metric, seq: seq, db)
            if !joined { count += 1 }
            last = (seq, point)
            if count > capacity {
                let halved = SeriesDownsampling.halve(try points(job: job, metric: metric, db))
                try db.execute(sql: "DELETE FROM seriesPoint WHERE jobId = ? AND metric = ?", arguments: [job.rawValue, metric])
                for (i, p) in halved.enumerated() { try write(p, job: job, metric: metric, seq: i, db) }
                width *= 2
                count = halved.count
                last = halved.last.map { (halved.count - 1, $0) }
            }
        }
        try db.execute(sql: "UPDATE series SET width = ?, points = ? WHERE jobId = ? AND metric = ?",
                       arguments: [width, count, job.rawValue, metric])
    }

    private static func write(_ p: SeriesPoint, job: JobID, metric: String, seq: Int, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO seriesPoint (jobId, metric, seq, step, time, value, min, max, count)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [job.rawValue, metric, seq, p.step, p.time, p.value, p.min, p.max, p.count])
    }

    private static func lastPoint(job: JobID, metric: String, _ db: Database) throws -> (seq: Int, point: SeriesPoint)? {
        let row = try Row.fetchOne(
            db, sql: "SELECT * FROM seriesPoint WHERE jobId = ? AND metric = ? ORDER BY seq DESC LIMIT 1",
            arguments: [job.rawValue, metric])
        return row.map { ($0["seq"], point($0)) }
    }

    private static func point(_ row: Row) -> SeriesPoint {
        SeriesPoint(step: row["step"], time: row["time"], value: row["value"], min: row["min"], max: row["max"],
                    count: row["count"])
    }

    static func points(job: JobID, metric: String, _ db: Database) throws -> [SeriesPoint] {
        try Row.fetchAll(db, sql: "SELECT * FROM seriesPoint WHERE jobId = ? AND metric = ? ORDER BY seq",
                         arguments: [job.rawValue, metric]).map(point)
    }

    /// A series' stored points, oldest first (empty for a metric never reported).
    public func series(job: JobID, metric: String) throws -> [SeriesPoint] {
        try read { db in try Self.points(job: job, metric: metric, db) }
    }

    /// The metrics a job has series for, by name.
    public func seriesMetrics(job: JobID) throws -> [String] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT metric FROM series WHERE jobId = ? ORDER BY metric", arguments: [job.rawValue])
        }
    }

    /// A series' bucket width (samples per point); nil for a metric never reported.
    public func seriesWidth(job: JobID, metric: String) throws -> Int? {
        try read { db in
            try Int.fetchOne(db, sql: "SELECT width FROM series WHERE jobId = ? AND metric = ?", arguments: [job.rawValue, metric])
        }
    }
}
