import XCTest
@testable import DoozerStore
import DoozerTestSupport

final class FileCursorTests: XCTestCase {
    /// Depth-first with names bytewise: a directory's files come before a sibling whose name
    /// extends the directory's with `-` or `.`, though those bytes sort before `/`.
    func testEnumerationOrder() {
        let s = Store(history: 10)
        for p in ["/ab", "/a.b", "/a-b", "/a/y", "/a/x/z", "/A", "/b"] { s.set(p, p) }
        let cursor = s.current.fileCursor()
        XCTAssertEqual(cursor.map { str($0.path) }, ["/A", "/a/x/z", "/a/y", "/a-b", "/a.b", "/ab", "/b"])
        XCTAssertEqual(Array(s.current.fileCursor()).map { $0.rev }, [6, 5, 4, 3, 2, 1, 7])
        var empty = Snapshot(emptyAt: 0).fileCursor()
        XCTAssertNil(empty.next())
    }

    func testPrecedesMatchesTheCursor() {
        let s = Store(history: 10)
        var rng = SplitMix64(seed: 11)
        let names = ["a", "a-", "a.", "a0", "b", "-", "."]
        for _ in 0..<300 {
            let path = (0..<(1 + rng.below(3))).map { _ in "/" + rng.pick(names) }.joined()
            if rng.below(3) == 0 { s.del(path) } else { s.set(path, "") }
        }
        let paths = s.current.fileCursor().map { $0.path }
        XCTAssertGreaterThan(paths.count, 10)
        for (x, y) in zip(paths, paths.dropFirst()) {
            x.withUnsafeBytes { xb in
                y.withUnsafeBytes { yb in
                    XCTAssertTrue(FileCursor.precedes(xb, yb), "\(str(x)) < \(str(y))")
                    XCTAssertFalse(FileCursor.precedes(yb, xb))
                    XCTAssertFalse(FileCursor.precedes(xb, xb))
                }
            }
        }
    }

    /// The cursor holds what it visits: the snapshot and later writes do not disturb it.
    func testCursorOutlivesItsSnapshotAndLaterWrites() {
        let s = Store(history: 10)
        for i in 0..<100 { s.set("/d\(i % 5)/f\(i)", "\(i)") }
        var cursor = s.current.fileCursor()
        let first = cursor.next()
        for i in 0..<100 { s.del("/d\(i % 5)/f\(i)") }
        XCTAssertEqual(first.map { str($0.path) }, "/d0/f0")
        XCTAssertEqual(Array(IteratorSequence(cursor)).count, 99)
    }
}
