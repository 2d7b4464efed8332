/// The few transcendental functions the router needs. The module imports nothing beyond the
/// standard library, which has no `log` or `exp`; these series are exact to a few ulps, more
/// than scoring needs, and identical on every platform, which keeps routing deterministic.
enum RoutingMath {
    static let ln2 = 0.693_147_180_559_945_309_4

    /// The natural logarithm of a positive, finite `x`.
    static func ln(_ x: Double) -> Double {
        precondition(x > 0 && x.isFinite, "ln of \(x)")
        // x = s · 2^e with s in [1, 2); ln s = 2·atanh((s-1)/(s+1)), whose series converges fast there.
        let e = Double(x.exponent)
        let s = x.significand
        let z = (s - 1) / (s + 1), z2 = z * z
        var term = z, sum = 0.0
        for k in stride(from: 1, through: 41, by: 2) {
            sum += term / Double(k)
            term *= z2
        }
        return e * ln2 + 2 * sum
    }

    /// e raised to `x`, for the moderate arguments scoring produces.
    static func exp(_ x: Double) -> Double {
        if x < -700 { return 0 }
        precondition(x <= 700 && x.isFinite, "exp of \(x)")
        // x = k·ln2 + r with |r| ≤ ln2/2, so the Taylor series for e^r converges in a few terms.
        let k = Double(nearest(x / ln2))
        let r = x - k * ln2
        var term = 1.0, sum = 1.0
        for n in 1...24 {
            term *= r / Double(n)
            sum += term
        }
        return sum * Double(sign: .plus, exponent: Int(k), significand: 1)
    }

    /// The nearest integer, halves away from zero. `Double.rounded()` would call libm's `round`,
    /// which a pure-stdlib module cannot count on being linked; a conversion to Int needs nothing.
    static func nearest(_ x: Double) -> Int { Int(x + (x < 0 ? -0.5 : 0.5)) }
}
