import DoozerHistory
import XCTest

/// Registers with compare-and-set, one per key: the generic checker on its own, without
/// doozer's rules.
struct Registers: Model {
    struct Input: Sendable {
        var key: String
        var action: Action
    }

    enum Action: Sendable {
        case write(Int)
        case read
        case cas(from: Int, to: Int)
    }

    /// A read's value, or whether a CAS succeeded (1) or not (0); writes answer 0.
    typealias Output = Int

    var initial: Int { 0 }

    func partition(of input: Input) -> String { input.key }

    func step(_ s: Int, _ input: Input, _ output: Int?) -> [Int] {
        switch (input.action, output) {
        case (.write(let v), _): return [v]
        case (.read, let value?): return value == s ? [s] : []
        case (.read, nil): return [s]
        case (.cas(let from, let to), 1?): return s == from ? [to] : []
        case (.cas(let from, _), 0?): return s != from ? [s] : []
        case (.cas(let from, let to), nil): return s == from ? [to] : []
        case (.cas, _): return []
        }
    }
}

/// Builds register histories: `w(1, 0...2)` writes 1 between times 0 and 2.
struct RegisterHistory {
    var ops: [Op<Registers.Input, Int>] = []

    mutating func w(_ v: Int, _ t: ClosedRange<Int64>, key: String = "x") {
        ops.append(Op(.init(key: key, action: .write(v)), invoked: t.lowerBound, outcome: .returned(0, at: t.upperBound)))
    }

    /// A write whose answer never came.
    mutating func lostWrite(_ v: Int, from t: Int64, key: String = "x") {
        ops.append(Op(.init(key: key, action: .write(v)), invoked: t, outcome: .unknown))
    }

    mutating func r(_ v: Int, _ t: ClosedRange<Int64>, key: String = "x") {
        ops.append(Op(.init(key: key, action: .read), invoked: t.lowerBound, outcome: .returned(v, at: t.upperBound)))
    }

    mutating func cas(_ from: Int, _ to: Int, ok: Bool, _ t: ClosedRange<Int64>, key: String = "x") {
        ops.append(Op(.init(key: key, action: .cas(from: from, to: to)), invoked: t.lowerBound,
                             outcome: .returned(ok ? 1 : 0, at: t.upperBound)))
    }

    func check(budget: Int = Linearizability.defaultBudget) -> LinearizabilityResult<Registers> {
        Linearizability.check(ops, model: Registers(), budget: budget)
    }
}

final class LinearizabilityTests: XCTestCase {
    func testEmptyAndSequentialHistoriesAreLinearizable() {
        XCTAssertEqual(RegisterHistory().check().verdict, .linearizable)
        var h = RegisterHistory()
        h.w(1, 0...1)
        h.r(1, 2...3)
        h.cas(1, 2, ok: true, 4...5)
        h.cas(1, 3, ok: false, 6...7)
        h.r(2, 8...9)
        XCTAssertEqual(h.check().verdict, .linearizable)
    }

    func testConcurrentOperationsMayTakeEffectInEitherOrder() {
        var h = RegisterHistory()
        h.w(1, 0...10)
        h.w(2, 0...10)
        h.r(1, 1...2)
        h.r(2, 3...4)
        h.r(2, 11...12)
        XCTAssertEqual(h.check().verdict, .linearizable)
    }

    func testEqualTimesCountAsConcurrent() {
        var h = RegisterHistory()
        h.w(1, 0...5)
        h.r(0, 5...6)
        XCTAssertEqual(h.check().verdict, .linearizable)
    }

    func testAStaleReadIsNotLinearizableAndIsReported() throws {
        var h = RegisterHistory()
        h.w(1, 0...1)
        h.w(2, 2...3)
        h.r(1, 4...5)
        let result = h.check()
        XCTAssertEqual(result.verdict, .notLinearizable)
        let failure = try XCTUnwrap(result.failures.first)
        XCTAssertEqual(failure.partition, "x")
        XCTAssertEqual(failure.stuck, 2)
        XCTAssertEqual(failure.linearized, 2)
        XCTAssertEqual(failure.lastLinearized, [0, 1])
        XCTAssertEqual(failure.pending, [2])
        XCTAssertEqual(failure.states, [2])
        let lines = failure.lines(operation: { "op \($0)" }, state: { "value \($0)" })
        XCTAssertEqual(lines, [
            "x: not linearizable; 3 operations, \(failure.steps) steps",
            "  longest linearization found: 2 operations, ending with",
            "    op 0", "    op 1",
            "  leaving value 2",
            "  then no pending operation leads to the answer of",
            "    op 2",
            "  pending (tried):",
            "    op 2",
        ])
    }

    func testReadsThatSeeWritesInOppositeOrdersAreNotLinearizable() {
        var h = RegisterHistory()
        h.w(1, 0...10)
        h.w(2, 0...10)
        h.r(2, 11...12)
        h.r(1, 13...14)
        XCTAssertEqual(h.check().verdict, .notLinearizable)
    }

    func testACompareAndSetCannotSucceedTwiceFromOneValue() {
        var h = RegisterHistory()
        h.cas(0, 1, ok: true, 0...10)
        h.cas(0, 2, ok: true, 0...10)
        XCTAssertEqual(h.check().verdict, .notLinearizable)
    }

    func testAnUnknownWriteMayHaveHappenedOrNot() {
        var happened = RegisterHistory()
        happened.w(1, 0...1)
        happened.lostWrite(2, from: 2)
        happened.r(2, 10...11)
        XCTAssertEqual(happened.check().verdict, .linearizable)

        var never = RegisterHistory()
        never.w(1, 0...1)
        never.lostWrite(2, from: 2)
        never.r(1, 10...11)
        never.r(1, 20...21)
        XCTAssertEqual(never.check().verdict, .linearizable)
    }

    func testAnUnknownWriteMayTakeEffectLongAfterItsInvocation() {
        var h = RegisterHistory()
        h.lostWrite(2, from: 0)
        h.r(0, 5...6)
        h.w(1, 7...8)
        h.r(1, 9...10)
        h.r(2, 20...21)
        XCTAssertEqual(h.check().verdict, .linearizable)
    }

    func testAnUnknownWriteTakesEffectAtMostOnce() {
        var h = RegisterHistory()
        h.w(1, 0...1)
        h.lostWrite(2, from: 2)
        h.r(2, 3...4)
        h.w(3, 5...6)
        h.r(2, 7...8)
        XCTAssertEqual(h.check().verdict, .notLinearizable)
    }

    func testPartitionsAreCheckedSeparately() throws {
        var h = RegisterHistory()
        h.w(1, 0...1, key: "a")
        h.w(5, 0...1, key: "b")
        h.r(1, 2...3, key: "a")
        h.w(6, 2...3, key: "b")
        h.r(5, 4...5, key: "b")
        // Across keys this would be stale; per key it is fine.
        h.r(0, 0...0, key: "c")
        let result = h.check()
        XCTAssertEqual(result.partitions, 3)
        XCTAssertEqual(result.failures.map(\.partition), ["b"])
        XCTAssertEqual(try XCTUnwrap(result.failures.first).stuck, 4)
    }

    /// Ten concurrent writes and a read of a value none wrote: without memoization the search
    /// would try 10! orders; with it, each (set of writes, last value) once.
    func testMemoizationBoundsTheSearch() {
        var h = RegisterHistory()
        for v in 1...10 { h.w(v, 0...100) }
        h.r(99, 0...100)
        let result = h.check(budget: 200_000)
        XCTAssertEqual(result.verdict, .notLinearizable)
        XCTAssertLessThan(result.steps, 200_000)
    }

    /// Thirty concurrent writes leave 30 × 2^29 states to rule out: the budget runs out first
    /// and the verdict is unknown, not a hang.
    func testAnExhaustedBudgetGivesUnknown() throws {
        var h = RegisterHistory()
        for v in 1...30 { h.w(v, 0...100) }
        h.r(99, 0...100)
        h.w(7, 0...1, key: "other")
        let result = h.check(budget: 20_000)
        XCTAssertEqual(result.verdict, .unknown)
        let failure = try XCTUnwrap(result.failures.first)
        XCTAssertEqual(failure.verdict, .unknown)
        XCTAssertGreaterThanOrEqual(failure.steps, 20_000)
        XCTAssertTrue(failure.lines(operation: { "\($0)" }, state: { "\($0)" })[0].contains("undecided"))
    }
}
