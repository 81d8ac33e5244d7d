@testable import DoozerLog
import DoozerSystem
import DoozerTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Segments prepared ahead of need: taken when ready, recovered like allocated ones, left
/// behind harmlessly by a crash mid-way, and never a reason for the log to fail.
final class PreparedSegmentTests: XCTestCase {
    var directory: TemporaryDirectory!
    let segmentSize = 16 << 10

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    var preparedPath: String { directory.file(SegmentPreparer.fileName) }
    var workPath: String { directory.file(SegmentPreparer.workName) }

    func segment(_ firstIndex: Int) -> String {
        let digits = String(firstIndex)
        return directory.file(String(repeating: "0", count: 20 - digits.count) + digits + ".log")
    }

    func testSegmentsComeFromThePreparerOnceOneIsReady() throws {
        let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize, prepared: true))
        defer { log.close() }
        var written: [LogRecord] = []
        func append(_ fill: UInt8, _ count: Int) throws {
            let payload = [UInt8](repeating: fill, count: count)
            written.append(LogRecord(index: try log.append(type: fill, payload: payload), type: fill, payload: payload))
        }
        // No report reaped yet: the first segment is allocated, as with preparation off.
        try append(1, 100)
        try log.flush()
        XCTAssertEqual(log.statistics.preparedSegments, 0)
        XCTAssertEqual(log.statistics.allocatedSegments, 1)

        try log.awaitPreparer()
        XCTAssertNil(log.preparationFailure)
        XCTAssertEqual(try Files.read(preparedPath), [UInt8](repeating: 0, count: segmentSize), "wholly zero before it is used")
        // The first segment did not come from the preparer: the next record leaves it.
        try append(2, 100)
        try log.flush()
        XCTAssertEqual(log.statistics.preparedSegments, 1)
        XCTAssertEqual(try Files.segments(in: directory.path), ["00000000000000000001.log", "00000000000000000002.log"])
        XCTAssertEqual(try Files.read(segment(1)).count, 32 + 109, "left early: cut to its records")
        let second = try Files.read(segment(2))
        XCTAssertEqual(second.count, segmentSize)
        XCTAssertTrue(second[(32 + 109)...].allSatisfy { $0 == 0 })

        // A prepared segment is filled up before the next one starts, from the preparer again.
        try log.awaitPreparer()
        for _ in 0..<20 { try append(3, 1000) }   // 16 fit in the rest of segment 2
        try log.flush()
        XCTAssertEqual(try Files.segments(in: directory.path).count, 3)
        XCTAssertEqual(log.statistics.preparedSegments, 2)
        XCTAssertEqual(log.statistics.allocatedSegments, 1)
        log.close()

        let (reopened, records) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize))
        defer { reopened.close() }
        XCTAssertNil(reopened.tornTail)
        XCTAssertEqual(records, written)
    }

    /// The newest segment is a prepared one, partly written: recovery stops at its zeros, and
    /// a tear in its last record is cleared like any torn tail.
    func testRecoveryOfAPartlyWrittenPreparedSegment() throws {
        let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize, prepared: true))
        try log.append(type: 1, payload: [1])
        try log.flush()
        try log.awaitPreparer()
        var written: [LogRecord] = []
        for i in 0..<5 {
            let payload = [UInt8](repeating: UInt8(i), count: 50)
            written.append(LogRecord(index: try log.append(type: 2, payload: payload), type: 2, payload: payload))
        }
        try log.flush()
        log.close()
        let newest = segment(2)
        let bytes = try Files.read(newest)
        XCTAssertEqual(bytes.count, segmentSize)

        let (intact, records) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize))
        intact.close()
        XCTAssertNil(intact.tornTail)
        XCTAssertEqual(Array(records.dropFirst()), written)

        var torn = bytes
        let lastRecord = 32 + 4 * 59
        for i in (lastRecord + 30)..<(lastRecord + 59) { torn[i] = 0 }   // the last write half done
        try Files.write(newest, torn)
        let (repaired, survivors) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize, prepared: true))
        defer { repaired.close() }
        XCTAssertEqual(repaired.tornTail?.file, newest)
        XCTAssertEqual(repaired.tornTail?.offset, lastRecord)
        XCTAssertEqual(Array(survivors.dropFirst()), Array(written.prefix(4)))
        XCTAssertEqual(try repaired.append(type: 3, payload: [3]), 6)
        try repaired.flush()
        XCTAssertEqual(try Files.read(newest).count, segmentSize)
    }

    /// A crash mid-preparation leaves a partial work file: never read as a segment, removed at
    /// the next open, with preparation on or off.
    func testAWorkFileLeftByACrashMidPreparationIsRemovedAtOpen() throws {
        let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize))
        for i in 0..<3 { try log.append(type: 1, payload: [UInt8(i)]) }
        try log.flush()
        log.close()
        // Stale bytes that would read as a valid segment with records if it were one.
        let leftover = SegmentHeader(firstIndex: 4).bytes + [4, 0, 0, 0, 1, 0, 0, 0, 0, 9, 9, 9, 9] + [UInt8](repeating: 0x5A, count: 1000)
        for prepared in [false, true] {
            try Files.write(workPath, leftover)
            let (reopened, records) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize, prepared: prepared))
            XCTAssertEqual(records.map(\.index), [1, 2, 3], "prepared \(prepared)")
            XCTAssertNil(reopened.tornTail)
            if prepared {
                try reopened.awaitPreparer()
                XCTAssertEqual(try Files.read(preparedPath), [UInt8](repeating: 0, count: segmentSize))
            }
            XCTAssertThrowsError(try Files.read(workPath), "removed; prepared \(prepared)")
            reopened.close()
            if !prepared { XCTAssertThrowsError(try Files.read(preparedPath)) }
        }
    }

    /// A prepared file is whole (it gets its name only once synced): the next open keeps it and
    /// the log moves into it at its first record, unless preparation is off or the segment
    /// size changed.
    func testAPreparedFileFoundAtOpenIsUsedIfItFits() throws {
        let zeros = [UInt8](repeating: 0, count: segmentSize)
        for (prepared, size, kept) in [(true, segmentSize, true), (true, segmentSize / 2, false), (false, segmentSize, false)] {
            let context = "preparation \(prepared ? "on" : "off"), a file of \(size) bytes"
            let (first, _) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize))
            try first.append(type: 1, payload: [1])
            try first.flush()
            first.close()
            try Files.write(preparedPath, Array(zeros.prefix(size)))

            let faults = try FaultyIO()
            let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize, prepared: prepared), io: faults.io)
            XCTAssertEqual(log.hasPreparedSegment, kept, context)
            if kept {
                XCTAssertEqual(faults.count("pwrite"), 0, "nothing prepared again; \(context)")
                try log.append(type: 1, payload: [2])
                try log.flush()
                XCTAssertEqual(log.statistics.preparedSegments, 1, context)
                XCTAssertEqual(try Files.segments(in: directory.path), ["00000000000000000001.log", "00000000000000000002.log"], context)
                XCTAssertEqual(try Files.read(segment(1)).count, 32 + 10, context)
            } else if !prepared {
                XCTAssertThrowsError(try Files.read(preparedPath), "removed; \(context)")
            }
            log.close()
            let (reopened, records) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize))
            reopened.close()
            XCTAssertEqual(records.map(\.payload), kept ? [[1], [2]] : [[1]], context)
            directory.remove()
            directory = try TemporaryDirectory()
        }
    }

    /// Every call of the preparer failing, with EIO and ENOSPC: reported once with the call,
    /// the errno and the file; the file is gone; the log goes on allocating its segments.
    func testAPreparationFailureStopsPreparingButNeverTheLog() throws {
        for call in ["fallocate", "pwrite", "sync_file_range", "fdatasync", "rename"] {
            for errno in [EIO, ENOSPC] {
                let context = "\(call) failing with \(Errno(rawValue: errno))"
                // Nothing is appended before the preparer reports: its call is the first.
                let faults = try FaultyIO([.fail(call: call, nth: 1, errno: errno)])
                let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize, prepared: true), io: faults.io)
                try log.awaitPreparer()
                let failure = try XCTUnwrap(log.preparationFailure, context)
                XCTAssertEqual(failure.error.call, call, context)
                XCTAssertEqual(failure.error.errno, Errno(rawValue: errno), context)
                XCTAssertEqual(failure.path, workPath, context)
                XCTAssertFalse(log.hasPreparedSegment, context)
                XCTAssertThrowsError(try Files.read(workPath), "removed; \(context)")
                XCTAssertThrowsError(try Files.read(preparedPath), "never made; \(context)")

                for _ in 0..<40 { try log.append(type: 1, payload: [UInt8](repeating: 7, count: 1000)) }
                try log.flush()
                XCTAssertNil(log.failure, context)
                XCTAssertEqual(log.durableIndex, 40, context)
                XCTAssertEqual(log.statistics.preparedSegments, 0, "every segment allocated; \(context)")
                log.close()
                let (reopened, records) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize))
                reopened.close()
                XCTAssertEqual(records.count, 40, context)
                directory.remove()
                directory = try TemporaryDirectory()
            }
        }
    }

    /// Moving into a prepared segment is on the write path: a failed cut of the segment left
    /// early, or a failed rename into place, fails the log.
    func testAFailedMoveIntoAPreparedSegmentFailsTheLog() throws {
        // The first rename names the prepared file; the second moves it into place.
        for (call, nth, failing) in [("ftruncate", 1, 1), ("rename", 2, 2)] {
            let faults = try FaultyIO([.fail(call: call, nth: nth, errno: EIO)])
            let (log, _) = try RecordLog.open(directory.path, options: small(segmentSize: segmentSize, prepared: true), io: faults.io)
            try log.append(type: 1, payload: [1])
            try log.flush()
            try log.awaitPreparer()
            try log.append(type: 1, payload: [2])
            XCTAssertThrowsError(try log.flush(), call) { error in
                guard case LogError.storage(let failure) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(failure.error.call, call)
                XCTAssertEqual(failure.path, segment(failing))
            }
            XCTAssertEqual(log.durableIndex, 1, call)
            XCTAssertThrowsError(try log.append(type: 1, payload: [3]), call)
            log.close()
            directory.remove()
            directory = try TemporaryDirectory()
        }
    }
}
