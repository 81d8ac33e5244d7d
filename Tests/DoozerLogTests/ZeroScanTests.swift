@testable import DoozerLog
import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The scans recovery makes over a segment's zeros, block by block: they find the same byte a
/// byte-at-a-time scan finds, at and around every block boundary, and a torn tail in a
/// full-size segment is cleared without scanning its zeros a byte at a time.
final class ZeroScanTests: XCTestCase {
    func testTheBlockScansFindTheByteAByteAtATimeScanFinds() {
        let size = 3 * 4096 + 17
        let around = [0, 1, 4095, 4096, 4097, 8191, 8192, size - 4097, size - 4096, size - 4095, size - 18, size - 17, size - 1]
        XCTAssertNil(scan([UInt8](repeating: 0, count: size)).lastNonZero())
        XCTAssertNil(scan([UInt8](repeating: 0, count: size)).firstNonZero(from: 0))
        XCTAssertNil(scan([]).lastNonZero())
        for first in around {
            for last in around where last >= first {
                var bytes = [UInt8](repeating: 0, count: size)
                bytes[first] = 1
                bytes[last] = 2
                let segment = scan(bytes)
                XCTAssertEqual(segment.lastNonZero(), last, "non-zero bytes at \(first) and \(last)")
                XCTAssertEqual(segment.firstNonZero(from: 0), first, "non-zero bytes at \(first) and \(last)")
                XCTAssertEqual(segment.firstNonZero(from: first + 1), last == first ? nil : last, "from \(first + 1)")
            }
        }
    }

    /// A byte-at-a-time scan of a 64 MiB segment's zeros took 6 to 9 s in a debug build, and
    /// recovery made two (a durable node with a torn tail was ready after 12.5 s, and not within
    /// the harness's 15 s under ThreadSanitizer, where it took 45 s); block by block, recovery
    /// takes about 2 s under ThreadSanitizer, most of it checksumming what the torn header's
    /// length claims.
    func testATornTailInAFullSizeSegmentIsClearedQuickly() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = small(segmentSize: 64 << 20)
        do {
            let (log, _) = try RecordLog.open(directory.path, options: options)
            for i in 0..<20 { try log.append(type: 1, payload: [UInt8](repeating: UInt8(i), count: 50)) }
            try log.flush()
            log.close()
        }
        let segment = directory.file(try XCTUnwrap(Files.segments(in: directory.path).last))
        var bytes = try Files.read(segment)
        let end = 32 + 20 * (9 + 50)
        bytes.replaceSubrange(end..<end + 7, with: [0x40, 0, 0, 0, 2, 0x11, 0x22])   // a header with no body
        try Files.write(segment, bytes)

        let start = ProcessEnvironment.monotonicNanoseconds()
        let (log, records) = try RecordLog.open(directory.path, options: options)
        let seconds = Double(ProcessEnvironment.monotonicNanoseconds() - start) / 1e9
        log.close()
        XCTAssertEqual(records.count, 20)
        XCTAssertEqual(log.tornTail?.offset, end)
        XCTAssertEqual(log.tornTail?.clearedBytes, 7)
        XCTAssertLessThan(seconds, 8, "recovering a torn tail in a 64 MiB segment")
    }

    private func scan(_ bytes: [UInt8]) -> SegmentScan { SegmentScan(path: "segment", bytes: bytes, newest: true) }
}
