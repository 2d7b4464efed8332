/// Durations counted in the buckets of `JobQueueSchema.durationBucketsMs`: the shape the rollups
/// keep, from which percentiles are estimated without reading job rows.
public struct DurationHistogram: Sendable, Equatable {
    /// Upper bounds in milliseconds; one more, unbounded bucket follows the last.
    public var boundsMs: [Int]
    /// Jobs per bucket (not cumulative), `boundsMs.count + 1` entries.
    public var counts: [Int64]
    /// The sum of every counted duration, in milliseconds.
    public var sumMs: Int64

    public init(boundsMs: [Int] = JobQueueSchema.durationBucketsMs, counts: [Int64]? = nil, sumMs: Int64 = 0) {
        self.boundsMs = boundsMs
        self.counts = counts ?? Array(repeating: 0, count: boundsMs.count + 1)
        self.sumMs = sumMs
    }

    /// How many durations were counted.
    public var count: Int64 { counts.reduce(0, +) }

    /// Adds `jobs` durations to bucket `index`; an index out of range lands in the last bucket.
    public mutating func add(bucket index: Int, jobs: Int64, totalMs: Int64) {
        counts[min(max(index, 0), counts.count - 1)] += jobs
        sumMs += totalMs
    }

    /// The estimated `q` quantile (0...1) in milliseconds, or nil when nothing was counted.
    ///
    /// As Prometheus' `histogram_quantile`: the rank is placed by linear interpolation inside
    /// its bucket; a rank in the unbounded bucket answers the last bound.
    public func quantile(_ q: Double) -> Double? {
        let total = count
        guard total > 0 else { return nil }
        let rank = min(max(q, 0), 1) * Double(total)
        var below: Int64 = 0
        for (i, n) in counts.enumerated() where n > 0 {
            if Double(below + n) >= rank {
                guard i < boundsMs.count else { return Double(boundsMs.last ?? 0) }
                let lower = i == 0 ? 0 : Double(boundsMs[i - 1])
                let upper = Double(boundsMs[i])
                return lower + (upper - lower) * max(0, rank - Double(below)) / Double(n)
            }
            below += n
        }
        return Double(boundsMs.last ?? 0)
    }
}
