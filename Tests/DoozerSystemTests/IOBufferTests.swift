import DoozerReactor
import XCTest

final class IOBufferTests: XCTestCase {
    private func append(_ bytes: [UInt8], to buffer: inout IOBuffer) {
        bytes.withUnsafeBytes { buffer.append($0) }
    }

    func testAppendConsumeKeepsOrder() {
        var buffer = IOBuffer(capacity: 8)
        append([1, 2, 3], to: &buffer)
        append([4, 5], to: &buffer)
        XCTAssertEqual(Array(buffer.readable), [1, 2, 3, 4, 5])
        buffer.consume(2)
        XCTAssertEqual(Array(buffer.readable), [3, 4, 5])
        buffer.consume(3)
        XCTAssertTrue(buffer.isEmpty)
    }

    func testSlidesBeforeGrowing() {
        var buffer = IOBuffer(capacity: 8)
        append([1, 2, 3, 4, 5, 6], to: &buffer)
        buffer.consume(5)
        append([7, 8, 9, 10, 11], to: &buffer)   // fits once the live byte slides to the front
        XCTAssertEqual(buffer.allocatedCount, 8)
        XCTAssertEqual(Array(buffer.readable), [6, 7, 8, 9, 10, 11])
    }

    func testGrowsForALargeWriteAndShrinksWhenSmallAgain() {
        var buffer = IOBuffer(capacity: 8)
        let big = [UInt8](repeating: 7, count: 100)
        append(big, to: &buffer)
        XCTAssertGreaterThanOrEqual(buffer.allocatedCount, 100)
        XCTAssertLessThan(buffer.allocatedCount, 200, "grows to what is needed, not by repeated doubling")
        XCTAssertEqual(Array(buffer.readable), big)
        buffer.shrinkIfSmall()
        XCTAssertGreaterThanOrEqual(buffer.allocatedCount, 100, "must not shrink while holding many bytes")
        buffer.consume(97)
        buffer.shrinkIfSmall()
        XCTAssertEqual(buffer.allocatedCount, 8)
        XCTAssertEqual(Array(buffer.readable), [7, 7, 7], "keeps the bytes it still holds")
    }

    func testWritableSpaceAndCommit() {
        var buffer = IOBuffer(capacity: 4)
        let space = buffer.writableSpace(minimum: 3)
        XCTAssertGreaterThanOrEqual(space.count, 3)
        space.copyBytes(from: [9, 8, 7])
        buffer.commit(3)
        XCTAssertEqual(Array(buffer.readable), [9, 8, 7])
    }
}

final class TimerQueueTests: XCTestCase {
    func testPopsInDeadlineThenInsertionOrder() {
        var queue = TimerQueue<String>()
        queue.schedule(at: 30, "c")
        queue.schedule(at: 10, "a")
        queue.schedule(at: 20, "b1")
        queue.schedule(at: 20, "b2")
        XCTAssertEqual(queue.earliestDeadline, 10)
        XCTAssertNil(queue.popDue(now: 5))
        var popped: [String] = []
        while let next = queue.popDue(now: 25) { popped.append(next) }
        XCTAssertEqual(popped, ["a", "b1", "b2"])
        XCTAssertEqual(queue.popDue(now: 100), "c")
        XCTAssertTrue(queue.isEmpty)
    }

    func testManyRandomDeadlinesComeOutSorted() {
        var queue = TimerQueue<Int64>()
        var state: UInt64 = 42
        var deadlines: [Int64] = []
        for _ in 0..<1000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let deadline = Int64(state >> 40)
            deadlines.append(deadline)
            queue.schedule(at: deadline, deadline)
        }
        var out: [Int64] = []
        while let next = queue.popDue(now: .max) { out.append(next) }
        XCTAssertEqual(out, deadlines.sorted())
    }
}
