// Shared by the test targets: the project's one seeded generator (consensus's SplitMix64, so a
// seed means the same sequence everywhere) and the few draws the randomized tests make of it.
@_exported import struct DoozerConsensus.SplitMix64

extension SplitMix64 {
    /// A draw from 0..<n (n > 0); modulo, so recorded seeds keep replaying the same runs.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// One element of a non-empty array.
    public mutating func pick<T>(_ elements: [T]) -> T { elements[below(elements.count)] }
    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}
