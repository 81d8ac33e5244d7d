import XCTest
@testable import DoozerStore

/// A WAIT's scan of history is spread over budgets (issue 10: one WAIT with a 300 KB glob at
/// the oldest retained revision stalled the server for 1.6 s).
final class HistoryScanTests: XCTestCase {
    /// A 4,096-byte glob that never stops matching part of a path: every state stays alive.
    static let heavyGlob = "/" + String(repeating: "**?", count: 1364) + "Z"

    /// A ~4 KiB path, ending in "Z" (matching the heavy glob) or not.
    func longPath(_ i: Int, matching: Bool) -> String {
        "/d\(i)/" + String(repeating: "x", count: 4000) + (matching ? "Z" : "Y")
    }

    /// seqn 1...count: long paths, only `matchAt` ending in "Z".
    func store(count: Int, matchAt: Int?, history: Int = 1000) -> Store {
        let s = Store(history: history)
        for i in 1...count { s.set(longPath(i, matching: i == matchAt), "v\(i)") }
        return s
    }

    /// Drives the scans to the end; returns the outcomes and how many calls it took.
    func drain(_ s: Store) -> ([Store.ScanOutcome], Int) {
        var outcomes: [Store.ScanOutcome] = []
        var calls = 0
        while s.hasHistoryScans {
            outcomes += s.continueHistoryScans()
            calls += 1
        }
        return (outcomes, calls)
    }

    func testLongScanIsSlicedAndFindsTheFirstMatch() {
        let s = store(count: 60, matchAt: 45)
        let glob = Glob(Self.heavyGlob)!
        XCTAssertEqual(glob.wordsPerByte, 43)
        guard case .pending(let id) = s.wait(glob, from: 1, owner: WatchOwner(token: 1, cookie: 9)) else {
            return XCTFail("a scan over budget should be pending")
        }
        XCTAssertTrue(s.isPending(id))
        XCTAssertTrue(s.hasHistoryScans)
        s.set(longPath(99, matching: true), "later")   // seqn 61: also matches, but 45 comes first
        let (outcomes, calls) = drain(s)
        XCTAssertGreaterThan(calls, 2, "the scan takes several budgets")
        XCTAssertEqual(outcomes.count, 1)
        guard case .fired(let owner, let event)? = outcomes.first else { return XCTFail("should fire") }
        XCTAssertEqual(owner, WatchOwner(token: 1, cookie: 9))
        XCTAssertEqual(event.seqn, 45)
        XCTAssertFalse(s.isPending(id))
        XCTAssertEqual(s.pendingWaits, 0)
    }

    func testScanWithoutMatchArmsTheWatch() {
        let s = store(count: 30, matchAt: nil)
        guard case .pending(let id) = s.wait(Self.heavyGlob, from: 1, id: 7) else { return XCTFail("pending") }
        let (outcomes, _) = drain(s)
        XCTAssertTrue(outcomes.isEmpty)
        XCTAssertTrue(s.isPending(id))
        XCTAssertEqual(s.set(longPath(31, matching: false), "no").ids, [])
        XCTAssertEqual(s.set(longPath(32, matching: true), "yes").ids, [7])
    }

    func testCancelledScanIsDropped() {
        let s = store(count: 30, matchAt: 29)
        _ = s.wait(Self.heavyGlob, from: 1, id: 3)
        s.cancel(3)
        XCTAssertEqual(s.pendingWaits, 0)
        let (outcomes, _) = drain(s)
        XCTAssertTrue(outcomes.isEmpty)
    }

    func testScanOutpacedByHistoryIsTooLate() {
        let s = store(count: 30, matchAt: nil, history: 30)
        _ = s.wait(Self.heavyGlob, from: 1, id: 4)
        for _ in 0..<40 { s.nop() }   // revisions 1…40 leave history before the scan gets there
        let (outcomes, _) = drain(s)
        guard case .tooLate(let owner)? = outcomes.first, outcomes.count == 1 else { return XCTFail("\(outcomes)") }
        XCTAssertEqual(owner.token, 4)
        XCTAssertEqual(s.pendingWaits, 0)
    }

    func testInstallReturnsScanningWatches() {
        let s = store(count: 30, matchAt: nil)
        _ = s.wait(Self.heavyGlob, from: 1, id: 5)
        XCTAssertEqual(s.install(Snapshot(emptyAt: 100)).map(\.token), [5])
        XCTAssertFalse(s.hasHistoryScans)
    }

    func testShortScansStayInline() {
        let s = Store(history: 2000)
        for i in 1...2000 { s.set("/ctl/node/n\(i % 7)/applied", "\(i)") }
        guard case .fired(let e) = s.wait("/**/n3/**?", from: 1, id: 1) else { return XCTFail("fires inline") }
        XCTAssertEqual(e.seqn, 3)
        guard case .pending = s.wait("/nothing/**", from: 1, id: 2) else { return XCTFail("pending") }
        XCTAssertFalse(s.hasHistoryScans, "2,000 short events fit in one budget")
    }
}
