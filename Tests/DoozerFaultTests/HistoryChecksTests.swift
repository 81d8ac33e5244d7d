// The history checks on small hand-written histories: a correct one passes, and each kind of
// anomaly the fault rounds look for is reported (so a real one would fail the run) — by the
// event-log checks, and by the DoozerHistory library through the suite's mapping onto it.

import DoozerHistory
import XCTest

final class HistoryChecksTests: XCTestCase {
    private var ops: [HistoryOp] = []
    private var events: [LoggedEvent] = []

    /// An operation on connection `on` from `from` to `to` (nanoseconds).
    private func op(_ call: HistoryOp.Call, _ outcome: HistoryOp.Outcome, on connection: Int = 1, _ from: UInt64, _ to: UInt64) {
        ops.append(HistoryOp(index: ops.count, connection: connection, node: "n1", invoke: from, complete: to,
                             call: call, outcome: outcome))
    }

    private func set(_ rev: Int64, _ path: String, _ value: String) {
        events.append(LoggedEvent(rev: rev, path: path, flags: 4, body: Array(value.utf8)))
    }

    private func del(_ rev: Int64, _ path: String) {
        events.append(LoggedEvent(rev: rev, path: path, flags: 8, body: []))
    }

    private func anomalies() -> [String] {
        let last = max(events.map(\.rev).max() ?? 10, 10)
        var checks = HistoryChecks(ops.sorted { $0.invoke < $1.invoke }, log: EventLog(events, firstRev: 10, lastRev: last))
        checks.run()
        return checks.anomalies
    }

    private func assertFinds(_ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let found = anomalies()
        XCTAssertTrue(found.contains { $0.contains(fragment) }, "expected an anomaly with \(fragment.debugDescription): \(found)",
                      file: file, line: line)
    }

    /// A SET, a CAS on it, a refused CAS, an unknown write that landed, a DEL and reads.
    private func correctHistory() {
        op(.set(path: "/a", value: "v1", rev: -1), .ok(rev: 11, value: nil), 1, 2)
        set(11, "/a", "v1")
        op(.get(path: "/a", rev: nil), .ok(rev: 11, value: "v1"), 3, 4)
        op(.set(path: "/a", value: "v2", rev: 11), .ok(rev: 12, value: nil), 5, 6)
        set(12, "/a", "v2")
        op(.set(path: "/a", value: "v3", rev: 11), .failed(.revMismatch, detail: nil), on: 2, 7, 8)
        op(.set(path: "/a", value: "v4", rev: -1), .unknown("timeout"), on: 3, 9, 10)
        set(14, "/a", "v4")
        op(.get(path: "/a", rev: 12), .ok(rev: 12, value: "v2"), 11, 12)
        op(.del(path: "/a", rev: -1), .ok(rev: nil, value: nil), on: 2, 13, 14)
        del(15, "/a")
        op(.get(path: "/a", rev: nil), .ok(rev: 0, value: ""), on: 2, 15, 16)
        op(.set(path: "/b", value: "v5", rev: -1), .ok(rev: 16, value: nil), 17, 18)
        set(16, "/b", "v5")
    }

    func testACorrectHistoryPasses() {
        correctHistory()
        XCTAssertEqual(anomalies(), [])
    }

    func testALostAcknowledgedWriteIsFound() {
        correctHistory()
        events.removeAll { $0.rev == 16 }
        assertFinds("lost")
    }

    func testAValueAppliedTwiceIsFound() {
        correctHistory()
        set(17, "/b", "v5")
        assertFinds("applied twice")
    }

    func testRevisionsAgainstRealTimeAreFound() {
        correctHistory()
        op(.set(path: "/c", value: "v6", rev: -1), .ok(rev: 13, value: nil), 20, 21)  // invoked after rev 16 was acknowledged
        set(13, "/c", "v6")
        assertFinds("real-time order")
    }

    func testARefusedWriteThatWasAppliedIsFound() {
        correctHistory()
        set(17, "/a", "v3")
        assertFinds("answered REV_MISMATCH")
    }

    func testAStaleReadOnOneConnectionIsFound() {
        correctHistory()
        op(.get(path: "/a", rev: nil), .ok(rev: 11, value: "v1"), 7, 8)  // after this connection wrote rev 12
        assertFinds("older than rev 12")
    }

    func testAWrongReadAtARevIsFound() {
        correctHistory()
        op(.get(path: "/a", rev: 11), .ok(rev: 12, value: "v2"), on: 4, 20, 21)
        assertFinds("the log has file rev 11")
    }

    func testACompareAndSetAgainstANewerFileIsFound() {
        correctHistory()
        op(.set(path: "/b", value: "v7", rev: 10), .ok(rev: 17, value: nil), on: 4, 20, 21)  // /b is at rev 16
        set(17, "/b", "v7")
        assertFinds("applied to file rev 16")
    }

    func testARefusalWhoseConditionHeldIsFound() {
        correctHistory()
        op(.set(path: "/b", value: "v8", rev: 16), .failed(.revMismatch, detail: nil), on: 4, 20, 21)
        assertFinds("refused although its condition held")
    }

    func testALostDeleteAndAPhantomDeleteAreFound() {
        correctHistory()
        op(.del(path: "/b", rev: -1), .ok(rev: nil, value: nil), on: 4, 20, 21)
        assertFinds("lost: no delete of /b")
        del(20, "/a")
        assertFinds("belongs to no DEL")
    }

    /// `correctHistory`'s files at the end, on two nodes.
    private func finalViews(b: Version = Version("v5", rev: 16)) -> [StoreView] {
        ["n1", "n2"].map { StoreView(name: $0, files: ["/b": b]) }
    }

    func testTheLibraryAcceptsACorrectHistory() {
        correctHistory()
        let report = LibraryChecks.run(ops, final: finalViews())
        XCTAssertTrue(report.isValid && report.undecided.isEmpty, "\(report)")
    }

    func testTheLibraryFindsALostWriteAndARevisionOutOfOrder() {
        correctHistory()
        XCTAssertFalse(LibraryChecks.run(ops, final: finalViews(b: Version(.empty, rev: 0))).isValid, "/b lost at the end")
        op(.set(path: "/c", value: "v6", rev: -1), .ok(rev: 13, value: nil), 20, 21)
        let report = LibraryChecks.run(ops, final: finalViews())
        XCTAssertTrue(report.violations.contains { $0.check == .revisions }, "\(report)")
    }

    func testAWriteNobodyIssuedIsFound() {
        correctHistory()
        set(17, "/a", "intruder")
        assertFinds("comes from no SET")
    }
}
