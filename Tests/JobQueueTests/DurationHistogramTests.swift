import JobQueue
import Testing

/// Percentiles estimated from histogram buckets, as Prometheus' histogram_quantile does.
struct DurationHistogramTests {
    static let bounds = [10, 100, 1000]

    @Test(arguments: [
        // counts per bucket (≤10, ≤100, ≤1000, +Inf), quantile, expected ms
        ([0, 0, 0, 0], 0.5, nil),
        ([10, 0, 0, 0], 0.5, 5.0),           // half-way into the first bucket, which starts at 0
        ([10, 0, 0, 0], 1.0, 10.0),
        ([0, 10, 0, 0], 0.5, 55.0),          // 10 + (100 - 10) * 5/10
        ([5, 5, 0, 0], 0.5, 10.0),           // the rank falls exactly on the first bucket's end
        ([5, 5, 0, 0], 0.95, 91.0),          // 10 + 90 * 4.5/5
        ([0, 0, 0, 4], 0.5, 1000.0),         // the unbounded bucket answers the last bound
        ([1, 0, 0, 99], 0.01, 10.0),
        ([0, 0, 100, 0], 0.0, 100.0),        // q = 0 is the lower edge of the first non-empty bucket
    ] as [([Int64], Double, Double?)])
    func quantile(counts: [Int64], q: Double, expected: Double?) {
        let h = DurationHistogram(boundsMs: Self.bounds, counts: counts)
        #expect(h.quantile(q) == expected)
    }

    @Test func addPutsOutOfRangeBucketsAtTheEdges() {
        var h = DurationHistogram(boundsMs: Self.bounds)
        h.add(bucket: 1, jobs: 2, totalMs: 100)
        h.add(bucket: 9, jobs: 1, totalMs: 5000)
        h.add(bucket: -1, jobs: 1, totalMs: 1)
        #expect(h.counts == [1, 2, 0, 1])
        #expect(h.count == 4 && h.sumMs == 5101)
    }
}
