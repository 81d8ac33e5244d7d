import DoozerSnapshot
import DoozerStore
import XCTest
import DoozerTestSupport

final class PropertyTests: XCTestCase {
    /// Seeded random stores — names chosen so that `-` and `.` (which sort before `/`) meet
    /// nested directories, files replaced by directories and back, deletes and no-ops — round
    /// trip through streams with random chunk targets and random splits.
    func testRandomTreesRoundTrip() throws {
        let names = ["a", "a-", "a.b", "a0", "A", "b", "-", ".", "..", "z9"]
        for seed in 1...40 as ClosedRange<UInt64> {
            var rng = SplitMix64(seed: seed)
            let store = Store(history: 10)
            for _ in 0..<(50 + rng.below(300)) {
                let depth = 1 + rng.below(4)
                let path = (0..<depth).map { _ in "/" + names[rng.below(names.count)] }.joined()
                switch rng.below(10) {
                case 0..<6: store.set(path, rng.bytes(rng.below(4) == 0 ? 0 : rng.below(300)))
                case 6..<9: store.del(path)
                default: store.nop()
                }
            }
            let original = store.current
            let target = 1 + rng.below(2000)
            let bytes = try encode(original, target: target)
            let pieces = (0..<20).map { _ in 1 + rng.below(300) }
            let restored = try decode(bytes, pieces: pieces)
            assertRestores(restored, original)
            // Every reachable path reads the same in both trees.
            original.forEachFile(under: "/") { path, _, _ in
                var prefix = path
                while let slash = prefix.lastIndex(of: 0x2F), slash > 0 {
                    prefix.removeSubrange(slash...)
                    XCTAssertEqual(restored.lookup(prefix), original.lookup(prefix), "seed \(seed)")
                }
            }
        }
    }
}
