import Foundation
import RingmasterModel
import StateStore
import Testing

@Suite struct SeriesDownsamplingBehaviour {
    func samples(_ n: Int, from first: Int = 1) -> [SeriesSample] {
        (first..<(first + n)).map { SeriesSample(time: t0 + Double($0), step: $0, value: Double($0)) }
    }

    @Test func mergeWeightsByCountAndKeepsTheNewerStepAndTheRange() {
        let a = SeriesPoint(step: 10, time: t0, value: 1, min: 0, max: 2, count: 3)
        let b = SeriesPoint(step: 11, time: t0 + 1, value: 5, min: 5, max: 5, count: 1)
        let m = SeriesDownsampling.merge(a, b)
        #expect(m == SeriesPoint(step: 11, time: t0 + 1, value: 2, min: 0, max: 5, count: 4))
        // A metric report without a step keeps the step it follows.
        let c = SeriesPoint(step: nil, time: t0 + 2, value: 2, min: 2, max: 2, count: 1)
        #expect(SeriesDownsampling.merge(m, c).step == 11)
    }

    @Test func aSeriesStaysWithinCapacityAndItsLastPointIsTheNewestSample() {
        for n in [0, 1, 7, 8, 9, 16, 17, 100, 1000] {
            let (points, width) = SeriesDownsampling.build(samples(n), capacity: 8)
            #expect(points.count <= 8, "n=\(n)")
            #expect(points.map(\.count).reduce(0, +) == n, "n=\(n): every sample counted once")
            if n > 8 { #expect(points.count > 4, "n=\(n): compaction halves, never more") }
            #expect(points.last?.step == (n == 0 ? nil : n), "n=\(n)")
            #expect(points.allSatisfy { $0.count <= width }, "n=\(n)")
            // Means of consecutive steps 1…n: each point's value is within its range, ranges in order.
            #expect(points.allSatisfy { $0.min <= $0.value && $0.value <= $0.max })
            #expect(zip(points, points.dropFirst()).allSatisfy { $0.max < $1.min })
        }
        // The total's mean is preserved: 1…1000 averages 500.5.
        let (points, _) = SeriesDownsampling.build(samples(1000), capacity: 8)
        let mean = points.map { $0.value * Double($0.count) }.reduce(0, +) / 1000
        #expect(abs(mean - 500.5) < 1e-9)
    }

    @Test func downsampleReturnsAtMostNPointsEndingAtTheNewest() {
        let points = samples(10).map(SeriesPoint.init)
        #expect(SeriesDownsampling.downsample(points, to: 20) == points)
        #expect(SeriesDownsampling.downsample(points, to: 10) == points)
        let three = SeriesDownsampling.downsample(points, to: 3)
        #expect(three.count == 3)
        #expect(three.map(\.count) == [2, 4, 4])
        #expect(three.map(\.step) == [2, 6, 10])
        #expect(three.map(\.value) == [1.5, 4.5, 8.5])
        #expect(SeriesDownsampling.downsample(points, to: 1).map(\.count) == [10])
        #expect(SeriesDownsampling.downsample(points, to: 0).map(\.count) == [10])
        #expect(SeriesDownsampling.downsample([], to: 5).isEmpty)
    }

    @Test func halveMergesPairsAndKeepsAnOddLastPoint() {
        let points = samples(5).map(SeriesPoint.init)
        #expect(SeriesDownsampling.halve(points).map(\.count) == [2, 2, 1])
        #expect(SeriesDownsampling.halve(points).map(\.step) == [2, 4, 5])
    }
}

@Suite struct SeriesStore {
    @Test func theStoreKeepsWhatTheBuilderComputesAcrossBatches() throws {
        let store = try RingmasterStore.inMemory()
        let job = try store.submitJob(demoSpec(), manifest: "name: demo\n", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        let all = (1...300).map { SeriesSample(time: t0 + Double($0), step: $0, value: 1 / Double($0)) }
        var i = 0
        for size in [1, 2, 50, 7, 100, 140] {
            try store.appendSeries(job: job.id, ["loss": Array(all[i..<(i + size)])], capacity: 16)
            i += size
        }
        #expect(i == 300)
        let expected = SeriesDownsampling.build(all, capacity: 16)
        let stored = try store.series(job: job.id, metric: "loss")
        #expect(stored.count == expected.points.count)
        #expect(stored.map(\.count) == expected.points.map(\.count))
        #expect(stored.map(\.step) == expected.points.map(\.step))
        for (s, e) in zip(stored, expected.points) { #expect(abs(s.value - e.value) < 1e-12) }
        #expect(try store.seriesWidth(job: job.id, metric: "loss") == expected.width)
        #expect(try store.seriesMetrics(job: job.id) == ["loss"])
        #expect(try store.series(job: job.id, metric: "nope").isEmpty)
    }

    @Test func nonFiniteSamplesAreDroppedAndSeriesGoWithTheirJob() throws {
        let store = try RingmasterStore.inMemory()
        let job = try store.submitJob(demoSpec(), manifest: "name: demo\n", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        try store.appendSeries(job: job.id, [
            "loss": [SeriesSample(time: t0, step: 1, value: .nan), SeriesSample(time: t0, step: 2, value: 3)],
            "steps_per_second": [SeriesSample(time: t0, step: 2, value: .infinity)],
        ])
        #expect(try store.series(job: job.id, metric: "loss").map(\.value) == [3])
        #expect(try store.series(job: job.id, metric: "steps_per_second").isEmpty)
        #expect(try store.seriesMetrics(job: job.id) == ["loss"])
    }
}

@Suite struct EventKindQuery {
    @Test func eventsOfSomeKindsComeOldestFirstForOneJobOrAll() throws {
        let store = try RingmasterStore.inMemory()
        let a = try store.submitJob(demoSpec(name: "a"), manifest: "name: a\n", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        let b = try store.submitJob(demoSpec(name: "b"), manifest: "name: b\n", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        try store.recordEvents([
            EventRecord(time: t0 + 1, kind: .failureDetected, jobId: a.id, message: "a failed"),
            EventRecord(time: t0 + 2, kind: .rankStarted, jobId: a.id, message: "rank"),
            EventRecord(time: t0 + 3, kind: .failureDetected, jobId: b.id, message: "b failed"),
            EventRecord(time: t0 + 4, kind: .recoveryComplete, jobId: a.id, message: "a recovered"),
        ])
        let kinds: Set<EventKind> = [.failureDetected, .recoveryComplete]
        #expect(try store.events(kinds: kinds).map(\.message) == ["a failed", "b failed", "a recovered"])
        #expect(try store.events(kinds: kinds, job: a.id).map(\.message) == ["a failed", "a recovered"])
        #expect(try store.events(kinds: []).isEmpty)
    }
}
