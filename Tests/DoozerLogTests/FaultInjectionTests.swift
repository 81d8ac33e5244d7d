import DoozerLog
import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Storage failures injected through the `FileIO` seam: a failed write or sync stops the log
/// for good, reports the call, the errno and the file, and never advances `durableIndex`.
final class FaultInjectionTests: XCTestCase {
    var directory: TemporaryDirectory!

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    func testShortWritesAreContinued() throws {
        let faults = try FaultyIO([.shortWrites(7)])
        let (log, _) = try RecordLog.open(directory.path, options: small(), io: faults.io)
        var written: [LogRecord] = []
        for i in 0..<50 {
            let payload = [UInt8](repeating: UInt8(i), count: i * 3)
            written.append(LogRecord(index: try log.append(type: 4, payload: payload), type: 4, payload: payload))
            if i % 7 == 0 { try log.flush() }
        }
        try log.flush()
        XCTAssertEqual(log.durableIndex, 50)
        XCTAssertGreaterThan(faults.count("pwrite"), 100, "every write was cut short")
        log.close()
        let (reopened, records) = try RecordLog.open(directory.path, options: small())
        reopened.close()
        XCTAssertEqual(records, written)
    }

    func testAWriteThatTakesNothingFailsInsteadOfLooping() throws {
        let faults = try FaultyIO([.shortWrites(0)])
        let (log, _) = try RecordLog.open(directory.path, options: small(), io: faults.io)
        defer { log.close() }
        try log.append(type: 1, payload: [1])
        XCTAssertThrowsError(try log.flush()) { error in
            XCTAssertEqual("\(error)", "log storage error: pwrite (wrote nothing) on \(directory.file("00000000000000000001.log")) failed: \(Errno(rawValue: ENOSPC))")
        }
        XCTAssertEqual(log.durableIndex, 0)
    }

    /// Each failing call, with EIO and with ENOSPC, on the batch after a durable one.
    func testEveryFailureStopsTheLogAndNothingUnsyncedIsReportedDurable() throws {
        let cases: [(call: String, rolls: Bool)] = [
            ("pwrite", false), ("fdatasync", false),
            ("pwrite", true), ("fdatasync", true), ("fallocate", true), ("fsync", true),
        ]
        for (call, rolls) in cases {
            for errno in [EIO, ENOSPC] {
                try checkFailure(call: call, errno: errno, rollingToANewSegment: rolls)
                directory.remove()
                directory = try TemporaryDirectory()
            }
        }
    }

    private func checkFailure(call: String, errno: Int32, rollingToANewSegment rolls: Bool) throws {
        let context = "\(call) failing with \(Errno(rawValue: errno))\(rolls ? " on a new segment" : "")"
        // The first batch creates segment 1 (one pwrite, one fallocate, one fdatasync, one
        // directory fsync); the second call of `call` is in the second batch.
        let faults = try FaultyIO([.fail(call: call, nth: 2, errno: errno)])
        let (log, _) = try RecordLog.open(directory.path, options: small(), io: faults.io)
        defer { log.close() }
        for _ in 0..<3 { try log.append(type: 1, payload: [UInt8](repeating: 1, count: 10)) }
        try log.flush()
        XCTAssertEqual(log.durableIndex, 3, context)

        let second = rolls ? 8 : 2
        for _ in 0..<second { try log.append(type: 1, payload: [UInt8](repeating: 2, count: rolls ? 1000 : 10)) }
        log.commit()
        XCTAssertThrowsError(try log.awaitCompletion(), context) { error in
            guard case LogError.storage(let failure) = error else { return XCTFail("\(error); \(context)") }
            XCTAssertEqual(failure.error.call, call, context)
            XCTAssertEqual(failure.error.errno, Errno(rawValue: errno), context)
            // Records 4-6 still fit segment 1 (written and synced there before segment 7 is
            // created); 7-10 go to segment 7, 11 to segment 11.
            let expectedFile = call == "fsync" ? directory.path
                : call == "fallocate" ? directory.file("00000000000000000007.log")
                : directory.file("00000000000000000001.log")
            XCTAssertEqual(failure.path, expectedFile, context)
        }
        XCTAssertEqual(log.durableIndex, 3, "never past what was synced; \(context)")
        XCTAssertNotNil(log.failure, context)

        // Failed for good: appends are refused, and nothing touches the disk again.
        let calls = ["pwrite", "fdatasync", "fallocate", "fsync"].map(faults.count)
        XCTAssertThrowsError(try log.append(type: 1, payload: [3]), context) { error in
            guard case LogError.storage = error else { return XCTFail("\(error); \(context)") }
        }
        XCTAssertThrowsError(try log.flush(), context)
        XCTAssertEqual(log.durableIndex, 3, context)
        XCTAssertEqual(["pwrite", "fdatasync", "fallocate", "fsync"].map(faults.count), calls, context)
        log.close()

        // Whatever reached the disk, the durable records are all there.
        let (reopened, records) = try RecordLog.open(directory.path, options: small())
        reopened.close()
        XCTAssertGreaterThanOrEqual(records.count, 3, context)
        XCTAssertEqual(records.prefix(3).map(\.payload), Array(repeating: [UInt8](repeating: 1, count: 10), count: 3), context)
    }
}
