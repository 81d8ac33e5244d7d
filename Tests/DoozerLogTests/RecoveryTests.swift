import DoozerLog
import DoozerSystem
import DoozerTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Damage arranged on real segment files, then recovery: torn tails are cleared and reported,
/// everything else is refused with the file, the offset and what was expected.
final class RecoveryTests: XCTestCase {
    var directory: TemporaryDirectory!
    let seed = testSeed()
    lazy var random = SplitMix64(seed: seed)

    override func setUpWithError() throws { directory = try TemporaryDirectory() }
    override func tearDown() { directory.remove() }

    /// Where one written record lies.
    struct Placed {
        var record: LogRecord
        var file: String
        var offset: Int
        var end: Int { offset + 9 + record.payload.count }
    }

    /// Writes `count` records of random sizes (or all of `payloadSize`) (up to 3 segments of 4096 bytes) and returns where
    /// each one lies, computed from the format rather than read back.
    func writeLog(count: Int, maxPayload: Int = 300, payloadSize: Int? = nil) throws -> [Placed] {
        let (log, _) = try RecordLog.open(directory.path, options: small())
        defer { log.close() }
        var placed: [Placed] = []
        var file = ""
        var offset = 4096
        for _ in 0..<count {
            let payload = random.bytes(payloadSize ?? Int.random(in: 0...maxPayload, using: &random))
            let type = UInt8.random(in: 0...255, using: &random)
            let index = try log.append(type: type, payload: payload)
            if offset + 9 + payload.count > 4096 {
                file = directory.file(String(repeating: "0", count: 20 - String(index).count) + String(index) + ".log")
                offset = 32
            }
            placed.append(Placed(record: LogRecord(index: index, type: type, payload: payload), file: file, offset: offset))
            offset += 9 + payload.count
            if Bool.random(using: &random) { try log.flush() }
        }
        try log.flush()
        return placed
    }

    func recover() throws -> (TornTail?, [LogRecord]) {
        let (log, records) = try RecordLog.open(directory.path, options: small())
        defer { log.close() }
        return (log.tornTail, records)
    }

    func expectCorrupt(_ file: String, offset: Int, containing text: String, line: UInt = #line) {
        XCTAssertThrowsError(try recover(), "seed \(seed)", line: line) { error in
            guard case LogError.corrupt(file, offset, let expected) = error else {
                return XCTFail("\(error) (seed \(seed))", line: line)
            }
            XCTAssertTrue(expected.contains(text), "\(expected) (seed \(seed))", line: line)
            XCTAssertTrue("\(error)".hasPrefix("log file \(file) is corrupt at byte offset \(offset): expected "), line: line)
        }
    }

    /// Every cut in the newest segment's header and its last three records — at every record
    /// boundary and at every byte inside a record — by zeroing the rest of the file and by cutting the file
    /// short: recovery returns exactly the whole records before the cut, clears the tear once,
    /// and the log continues from there.
    func testTornTailAtEveryByteOfTheNewestSegment() throws {
        let placed = try writeLog(count: 100, maxPayload: 100)  // two segments or more
        let newest = placed.last!.file
        let pristine = try Files.read(newest)
        let originals = try saveFiles()
        let tail = placed.suffix(3).filter { $0.file == newest }
        XCTAssertFalse(tail.isEmpty, "seed \(seed)")
        for cut in Array(0..<32) + Array(tail.first!.offset...tail.last!.end) {
            for truncate in [false, true] {
                let damaged = truncate ? Array(pristine.prefix(cut))
                    : Array(pristine.prefix(cut)) + [UInt8](repeating: 0, count: pristine.count - cut)
                try Files.write(newest, damaged)
                let context = "cut at \(cut), \(truncate ? "truncated" : "zeroed"), seed \(seed)"
                // Zeroing bytes that were zeros already (a record ending in zeros) damages nothing.
                let unharmed = { (p: Placed) in
                    !truncate && p.offset < cut && cut < p.end && pristine[cut..<p.end].allSatisfy { $0 == 0 }
                }
                let whole = placed.filter { $0.file != newest || $0.end <= cut || unharmed($0) }
                let (tear, records) = try recover()
                XCTAssertEqual(records, whole.map(\.record), context)
                // A cut that leaves only zeros of a record (an empty payload's length, say)
                // looks like the log's end: nothing torn to clear.
                let onlyZerosLeft = { (p: Placed) in p.offset < cut && pristine[p.offset..<cut].allSatisfy { $0 == 0 } }
                let boundary = cut >= 32 && placed.contains {
                    $0.file == newest && ($0.end == cut || $0.offset == cut || unharmed($0) || ($0.end > cut && onlyZerosLeft($0)))
                }
                if cut < 32 {
                    XCTAssertEqual(tear?.removedFile, true, context)
                    XCTAssertEqual(tear?.file, newest, context)
                } else if boundary || (cut == 32 && truncate) {
                    XCTAssertNil(tear, context)
                } else {
                    let lastWhole = whole.last { $0.file == newest }?.end ?? 32
                    XCTAssertEqual(tear?.offset, lastWhole, context)
                    XCTAssertEqual(tear?.file, newest, context)
                    // Cleared up to the last non-zero byte of the partial record: after it, zeros.
                    XCTAssertLessThanOrEqual(tear?.clearedBytes ?? .max, cut - lastWhole, context)
                    XCTAssertTrue(try Files.read(newest)[lastWhole...].allSatisfy { $0 == 0 }, context)
                    XCTAssertTrue(tear?.description.hasPrefix("log recovery: torn tail in \(newest) at byte offset \(lastWhole)") ?? false, context)
                }
                // Repaired: a second recovery finds nothing to clear, and appending continues
                // (checked once per record and once in the header: each check syncs).
                guard cut == 16 || tail.contains(where: { $0.offset + 5 == cut }) else {
                    try restore(originals)
                    continue
                }
                let (log, again) = try RecordLog.open(directory.path, options: small())
                XCTAssertNil(log.tornTail, context)
                XCTAssertEqual(again, records, context)
                XCTAssertEqual(try log.append(type: 9, payload: [9]), UInt64(records.count + 1), context)
                try log.flush()
                log.close()
                let (_, appended) = try recover()
                XCTAssertEqual(appended, records + [LogRecord(index: UInt64(records.count + 1), type: 9, payload: [9])], context)
                try restore(originals)
            }
        }
    }

    /// Flipping any byte of the last record (header or payload) makes it a torn tail.
    func testAFlippedByteInTheLastRecordIsATornTail() throws {
        let placed = try writeLog(count: 10, maxPayload: 60)
        let last = placed.last!
        let pristine = try Files.read(last.file)
        for position in last.offset..<last.end {
            var damaged = pristine
            damaged[position] ^= UInt8.random(in: 1...255, using: &random)
            try Files.write(last.file, damaged)
            let (tear, records) = try recover()
            let context = "byte \(position) flipped, seed \(seed)"
            XCTAssertEqual(records, placed.dropLast().map(\.record), context)
            XCTAssertEqual(tear?.offset, last.offset, context)
            try Files.write(last.file, pristine)
        }
    }

    /// Every segment file's bytes, by path.
    private func saveFiles() throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        for name in try Files.segments(in: directory.path) { files[directory.file(name)] = try Files.read(directory.file(name)) }
        return files
    }

    /// Makes the directory's segments exactly `files` again.
    private func restore(_ files: [String: [UInt8]]) throws {
        for name in try Files.segments(in: directory.path) { XCTAssertEqual(unlink(directory.file(name)), 0) }
        for (path, bytes) in files { try Files.write(path, bytes) }
    }

    func testABadRecordFollowedByAValidOneIsCorruption() throws {
        let placed = try writeLog(count: 50, payloadSize: 100)  // 37 records a segment
        let newestRecords = placed.filter { $0.file == placed.last!.file }
        let victim = newestRecords[newestRecords.count - 2]
        var bytes = try Files.read(victim.file)
        bytes[victim.offset + 9 + victim.record.payload.count / 2 - (victim.record.payload.isEmpty ? 1 : 0)] ^= 0x40
        try Files.write(victim.file, bytes)
        expectCorrupt(victim.file, offset: victim.offset, containing: "record \(victim.record.index): ")
        expectCorrupt(victim.file, offset: victim.offset, containing: "a valid record follows at offset \(victim.end)")
    }

    func testDamageInAnOlderSegmentIsCorruptionEvenAtItsEnd() throws {
        let placed = try writeLog(count: 40)
        let files = try Files.segments(in: directory.path).map(directory.file)
        XCTAssertGreaterThan(files.count, 1, "seed \(seed)")
        let victim = placed.last { $0.file == files[0] }!
        var bytes = try Files.read(victim.file)
        bytes[victim.offset + 5] ^= 0x01  // its checksum
        try Files.write(victim.file, bytes)
        expectCorrupt(victim.file, offset: victim.offset, containing: "record \(victim.record.index): CRC32C")
    }

    func testALostOlderTailIsAGapInIndexes() throws {
        let placed = try writeLog(count: 40)
        let files = try Files.segments(in: directory.path).map(directory.file)
        let victim = placed.last { $0.file == files[0] }!
        var bytes = try Files.read(victim.file)
        for i in victim.offset..<victim.end { bytes[i] = 0 }
        try Files.write(victim.file, bytes)
        expectCorrupt(files[1], offset: 16, containing: "first index \(victim.record.index), following the previous segment (found \(victim.record.index + 1))")
    }

    func testAMissingSegmentIsAGap() throws {
        let placed = try writeLog(count: 60)
        let files = try Files.segments(in: directory.path).map(directory.file)
        XCTAssertGreaterThan(files.count, 2, "seed \(seed)")
        XCTAssertEqual(unlink(files[1]), 0)
        let expected = placed.last { $0.file == files[0] }!.record.index + 1
        expectCorrupt(files[2], offset: 16, containing: "first index \(expected), following the previous segment")
    }

    func testABadHeaderOfAnOlderSegmentIsCorruption() throws {
        _ = try writeLog(count: 40)
        let files = try Files.segments(in: directory.path).map(directory.file)
        var bytes = try Files.read(files[0])
        bytes[2] = UInt8(ascii: "X")
        try Files.write(files[0], bytes)
        expectCorrupt(files[0], offset: 0, containing: "the segment magic")
        bytes[2] = UInt8(ascii: "O")
        bytes[8] = 2  // version, checksum now wrong
        try Files.write(files[0], bytes)
        expectCorrupt(files[0], offset: 0, containing: "segment header CRC32C")
    }

    func testAHeaderThatDisagreesWithItsFileName() throws {
        _ = try writeLog(count: 40)
        let files = try Files.segments(in: directory.path).map(directory.file)
        let renamed = directory.file("00000000000000000000.log")
        XCTAssertEqual(rename(files[0], renamed), 0)
        expectCorrupt(renamed, offset: 16, containing: "first index 0 as the file name says (found 1)")
    }

    func testStrayBytesAfterTheEndOfAnOlderSegment() throws {
        _ = try writeLog(count: 10, payloadSize: 500)  // 7 records a segment, ending at 3595
        let files = try Files.segments(in: directory.path).map(directory.file)
        var bytes = try Files.read(files[0])
        bytes[4000] = 1
        try Files.write(files[0], bytes)
        expectCorrupt(files[0], offset: try XCTUnwrap(endOfRecords(bytes)), containing: "only zeros after the last record (found a non-zero byte at offset 4000)")
    }

    /// The offset of the first all-zero record header after the segment header.
    private func endOfRecords(_ bytes: [UInt8]) -> Int? {
        var offset = 32
        while offset + 9 <= bytes.count {
            if bytes[offset..<offset + 9].allSatisfy({ $0 == 0 }) { return offset }
            offset += 9 + Int(UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
        }
        return nil
    }
}
