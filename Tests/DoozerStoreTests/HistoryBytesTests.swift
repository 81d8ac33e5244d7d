import XCTest
@testable import DoozerStore

/// History is bounded in bytes as well as revisions (issue 10: 2,000 revisions of 16 MiB
/// values kept 32 GiB).
final class HistoryBytesTests: XCTestCase {
    static let mib = 1 << 20

    func big(_ fill: UInt8) -> [UInt8] { [UInt8](repeating: fill, count: Self.mib) }

    func testOldestRevisionsGoFirstWhenOverBudget() {
        let s = Store(history: 1000, historyBytes: 8 * Self.mib)
        for i in 1...20 { s.apply(Mutation.set(Array("/v".utf8), rev: -1, body: big(UInt8(i)))) }
        XCTAssertEqual(s.rev, 20)
        XCTAssertLessThanOrEqual(s.retainedHistoryBytes, 8 * Self.mib)
        // Each revision keeps its mutation, its body and the body it replaced: about 3 MiB.
        let oldest = s.oldestRetained
        XCTAssertGreaterThan(oldest, 15)
        XCTAssertLessThan(oldest, 20)
        // A dropped revision reads and WAITs as TOO_LATE, as one older than -hist does.
        guard case .tooLate = s.snapshot(at: oldest - 1) else { return XCTFail("rev \(oldest - 1) should be too late") }
        guard case .tooLate = s.wait("/v", from: oldest - 1, id: 1) else { return XCTFail("WAIT should be too late") }
        XCTAssertNil(s.event(at: oldest - 1))
        // Retained ones are still answered, rebuilt by undoing.
        XCTAssertEqual(s.snap(oldest)?.lookup("/v"), .file(body: big(UInt8(oldest)), rev: oldest))
        guard case .fired(let e) = s.wait("/v", from: oldest, id: 1) else { return XCTFail("WAIT should fire") }
        XCTAssertEqual(e.seqn, oldest)
    }

    func testNewestRevisionIsKeptWhateverItsSize() {
        let s = Store(history: 1000, historyBytes: 0)
        s.set("/a", "1")
        s.apply(Mutation.set(Array("/b".utf8), rev: -1, body: big(1)))
        XCTAssertEqual(s.oldestRetained, 2)
        XCTAssertEqual(s.event(at: 2)?.body.count, Self.mib)
        guard case .fired = s.wait("/b", from: 2, id: 1) else { return XCTFail("the newest event should be kept") }
    }

    func testRevisionBoundStillApplies() {
        let s = Store(history: 3)
        for _ in 1...10 { s.nop() }
        XCTAssertEqual(s.oldestRetained, 8)
    }

    /// The tree, the event and history share one copy of a body.
    func testBodiesAreShared() {
        let s = Store(history: 10)
        let event = s.apply(Mutation.set(Array("/v".utf8), rev: -1, body: big(7))).event
        guard case .file(let body, _) = s.current.lookup("/v") else { return XCTFail("no file") }
        let inTree = body.withUnsafeBufferPointer { $0.baseAddress }
        XCTAssertEqual(event.body.withUnsafeBufferPointer { $0.baseAddress }, inTree)
        XCTAssertEqual(s.event(at: 1)!.body.withUnsafeBufferPointer { $0.baseAddress }, inTree)
        guard case .fired(let waited) = s.wait("/v", from: 1, id: 1) else { return XCTFail("WAIT should fire") }
        XCTAssertEqual(waited.body.withUnsafeBufferPointer { $0.baseAddress }, inTree)
    }
}
