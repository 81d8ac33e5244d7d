import DoozerLog
import DoozerSystem
import DoozerTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class RecordLogTests: XCTestCase {
    var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    func testRoundTripAcrossSegments() throws {
        let seed = testSeed()
        var random = SplitMix64(seed: seed)
        var written: [LogRecord] = []
        do {
            let (log, recovered) = try RecordLog.open(directory.path, options: small())
            XCTAssertEqual(recovered, [])
            XCTAssertEqual(log.nextIndex, 1)
            for round in 0..<20 {
                for _ in 0..<Int.random(in: 1...30, using: &random) {
                    let payload = random.bytes(Int.random(in: 0...600, using: &random))
                    let type = UInt8.random(in: 0...255, using: &random)
                    let index = try log.append(type: type, payload: payload)
                    written.append(LogRecord(index: index, type: type, payload: payload))
                }
                if round % 3 == 0 { try log.flush() } else { log.commit(); try log.awaitCompletion() }
            }
            try log.flush()
            XCTAssertEqual(log.durableIndex, UInt64(written.count), "seed \(seed)")
            log.close()
        }
        XCTAssertGreaterThan(try Files.segments(in: directory.path).count, 3, "seed \(seed)")
        let (log, recovered) = try RecordLog.open(directory.path, options: small())
        defer { log.close() }
        XCTAssertNil(log.tornTail)
        XCTAssertEqual(recovered, written, "seed \(seed)")
        XCTAssertEqual(recovered.map(\.index), Array(1...UInt64(written.count)), "seed \(seed)")
        XCTAssertEqual(log.durableIndex, UInt64(written.count))
        // Appending continues where recovery left off.
        XCTAssertEqual(try log.append(type: 7, payload: [1, 2, 3]), UInt64(written.count + 1))
        try log.flush()
        log.close()
        let (_, again) = try RecordLog.open(directory.path, options: small())
        XCTAssertEqual(again.last, LogRecord(index: UInt64(written.count + 1), type: 7, payload: [1, 2, 3]))
    }

    func testStartNewSegmentEndsTheSegmentSoThePrefixGoesWhole() throws {
        let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: 1 << 20))
        for i in 0..<5 { try log.append(type: 1, payload: [UInt8(i)]) }
        log.startNewSegment()
        log.startNewSegment()   // twice before an append: still one new segment
        try log.append(type: 1, payload: [5])
        try log.flush()
        XCTAssertEqual(try Files.segments(in: directory.path).count, 2)
        XCTAssertEqual(log.removeSegments(through: 5), 6, "records 1–5 lay in whole segments")
        try log.append(type: 1, payload: [6])
        try log.flush()
        log.close()
        XCTAssertEqual(try Files.segments(in: directory.path).count, 1)
        let (reopened, records) = try RecordLog.open(directory.path, options: small(segmentSize: 1 << 20))
        defer { reopened.close() }
        XCTAssertEqual(records.map(\.index), [6, 7])
        XCTAssertEqual(reopened.firstIndex, 6)
    }

    func testReadFromAnIndexReadsTheDurableRecordsBackInOrder() throws {
        var written: [LogRecord] = []
        do {
            let (log, _) = try RecordLog.open(directory.path, options: small())
            for i in 0..<200 {
                let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: i % 97)
                written.append(LogRecord(index: try log.append(type: 3, payload: payload), type: 3, payload: payload))
            }
            try log.flush()
            log.close()
        }
        let (log, recovered) = try RecordLog.open(directory.path, options: small())
        defer { log.close() }
        XCTAssertEqual(recovered, written)
        XCTAssertGreaterThan(try Files.segments(in: directory.path).count, 2)
        for from in [UInt64(1), 77, 200, 201] {
            var read: [LogRecord] = []
            try log.read(from: from) { read.append($0) }
            XCTAssertEqual(read, Array(written.drop { $0.index < from }), "from \(from)")
        }
        // Damage found on the way back is corruption, never a torn tail to clear.
        let first = directory.file(try Files.segments(in: directory.path)[0])
        var bytes = try Files.read(first)
        bytes[SegmentHeader.size + 5] ^= 0xFF   // the first record's checksum
        try Files.write(first, bytes)
        XCTAssertThrowsError(try log.read(from: 1) { _ in }) { error in
            guard case LogError.corrupt(let file, let offset, _)? = error as? LogError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, first)
            XCTAssertEqual(offset, SegmentHeader.size)
        }
    }

    func testEmptyLogStartsAtTheConfiguredIndex() throws {
        var options = small()
        options.firstIndex = 500
        let (log, _) = try RecordLog.open(directory.path, options: options)
        XCTAssertEqual(try log.append(type: 1, payload: []), 500)
        try log.flush()
        log.close()
        let (reopened, records) = try RecordLog.open(directory.path, options: small())
        defer { reopened.close() }
        XCTAssertEqual(records, [LogRecord(index: 500, type: 1, payload: [])])
        XCTAssertEqual(reopened.firstIndex, 500)
    }

    func testGroupCommitWritesAndSyncsOncePerCommit() throws {
        let faults = try FaultyIO()
        let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: 1 << 20), io: faults.io)
        defer { log.close() }
        try log.append(type: 1, payload: [0])
        try log.flush()  // creates the segment
        let writes = faults.count("pwrite")
        let syncs = faults.count("fdatasync")
        for i in 0..<1000 { try log.append(type: 2, payload: [UInt8(truncatingIfNeeded: i)]) }
        log.commit()
        XCTAssertEqual(try log.awaitCompletion(), 1001)
        XCTAssertEqual(faults.count("pwrite") - writes, 1, "one write for a batch in one segment")
        XCTAssertEqual(faults.count("fdatasync") - syncs, 1, "one fdatasync per commit")
        let statistics = log.statistics
        XCTAssertEqual(statistics.batches, 2)
        XCTAssertEqual(statistics.bytes, 32 + 1001 * 10)
        XCTAssertEqual(statistics.allocatedSegments, 1)
        XCTAssertEqual(statistics.preparedSegments, 0)
    }

    func testDurableOnlyAfterSyncAndCommitsDuringASyncGoOutTogetherRightAfterIt() throws {
        let faults = try FaultyIO(gated: true)
        let gate = try XCTUnwrap(faults.gate)
        let (log, _) = try RecordLog.open(directory.path, options: small(), io: faults.io)
        defer {
            gate.release.signal()
            log.close()
        }
        for _ in 0..<3 { try log.append(type: 1, payload: [1]) }
        log.commit()
        try gate.entered.wait()  // the syncing thread is inside fdatasync of batch 1
        XCTAssertEqual(try log.reapCompletions(), 0, "nothing is durable before fdatasync returned")
        XCTAssertEqual(log.pendingBytes, 32 + 3 * 10)
        for _ in 0..<2 { try log.append(type: 1, payload: [2]) }
        log.commit()  // a batch is being written: these are queued behind it...
        try log.append(type: 1, payload: [3])
        log.commit()  // ...and merged with these
        XCTAssertEqual(faults.count("pwrite"), 1)
        XCTAssertEqual(log.pendingBytes, 32 + 6 * 10)
        gate.release.signal()
        // The queued batch goes out when the first fdatasync returns, with no further commit.
        try gate.entered.wait()
        XCTAssertEqual(faults.count("pwrite"), 2, "the two queued commits went out as one write")
        XCTAssertEqual(try log.reapCompletions(), 3, "the first batch, and only it, is durable")
        XCTAssertEqual(log.pendingBytes, 30)
        gate.release.signal()
        XCTAssertEqual(try log.awaitCompletion(), 6)
        XCTAssertEqual(log.pendingBytes, 0)
        XCTAssertEqual(faults.count("fdatasync"), 2)
    }

    func testPendingLimitRefusesAppendsUntilACompletion() throws {
        let (log, _) = try RecordLog.open(directory.path, options: small(maxPending: 100))
        defer { log.close() }
        try log.append(type: 1, payload: [UInt8](repeating: 1, count: 40))  // 32 + 49 bytes pending
        XCTAssertThrowsError(try log.append(type: 1, payload: [UInt8](repeating: 1, count: 40))) { error in
            guard case LogError.pendingLimit(81, 100) = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(log.nextIndex, 2, "a refused record takes no index")
        try log.flush()
        XCTAssertEqual(try log.append(type: 1, payload: [UInt8](repeating: 1, count: 40)), 2)
        // Alone, a record larger than the pending limit still goes (it fits a segment).
        try log.flush()
        XCTAssertEqual(try log.append(type: 1, payload: [UInt8](repeating: 1, count: 1000)), 3)
        try log.flush()
    }

    func testRecordLargerThanASegmentIsRefused() throws {
        let options = small()
        let (log, _) = try RecordLog.open(directory.path, options: options)
        defer { log.close() }
        XCTAssertThrowsError(try log.append(type: 1, payload: [UInt8](repeating: 0, count: options.maxPayload + 1))) { error in
            guard case LogError.recordTooLarge(_, options.maxPayload) = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try log.append(type: 1, payload: [UInt8](repeating: 9, count: options.maxPayload)), 1)
        try log.flush()
    }

    func testRemoveSegmentsDeletesOnlyWholeDurableSegments() throws {
        let (log, _) = try RecordLog.open(directory.path, options: small())
        for _ in 0..<40 { try log.append(type: 1, payload: [UInt8](repeating: 3, count: 499)) }
        // Not durable yet: nothing can go.
        XCTAssertEqual(log.removeSegments(through: 40), 1)
        try log.flush()
        let before = try Files.segments(in: directory.path)
        XCTAssertEqual(before.count, 5)  // 8 records of 9 + 499 bytes fill the 4064 bytes after a header
        XCTAssertEqual(log.removeSegments(through: 20), 17, "segments 1-8 and 9-16 hold only records ≤ 20")
        try log.flush()
        XCTAssertEqual(try Files.segments(in: directory.path), Array(before.dropFirst(2)))
        XCTAssertEqual(log.removeSegments(through: 1000), 33, "the newest segment always stays")
        try log.flush()
        log.close()
        let (reopened, records) = try RecordLog.open(directory.path, options: small())
        defer { reopened.close() }
        XCTAssertEqual(records.map(\.index), Array(33...40))
        XCTAssertEqual(reopened.firstIndex, 33)
    }

    func testAnAllZeroHeaderIsNeverAValidRecord() {
        XCTAssertNotEqual(CRC32C.checksum([0, 0, 0, 0, 0]), 0)
    }
}
