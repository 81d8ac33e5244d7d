@testable import DoozerSnapshot
import DoozerStore
import DoozerSystem
import XCTest

/// Damaged, truncated and hostile streams end in a precise error, never a crash or a snapshot.
final class CorruptionTests: XCTestCase {
    private func originalSmall() -> Snapshot {
        let store = Store(history: 100)
        for i in 0..<12 { store.set("/c\(i % 2)/f\(i)", "body\(i)") }
        store.set("/e", [])
        return store.current
    }

    private func smallStream() throws -> [UInt8] {
        try encode(originalSmall(), target: 40)
    }

    /// Every changed byte is an error, except inside an lz4 block where the change still
    /// expands to the same raw bytes (another match offset into a repeated run): the checksums
    /// cover what the stream says, and that is unchanged. The header, the frame fields and the
    /// trailer are all caught.
    func testEveryChangedByteIsDetectedOrHarmless() throws {
        let units = try encodeUnits(originalSmall(), target: 40)
        let expected = originalSmall().allFiles
        let bytes = units.flatMap { $0 }
        var blockBytes = Set<Int>()
        var start = 0
        for unit in units {
            if unit[0] == 0x46, unit.count > 13 { blockBytes.formUnion((start + 13)..<(start + unit.count)) }
            start += unit.count
        }
        var harmless = 0
        for position in bytes.indices {
            for mask: UInt8 in [0x01, 0x10, 0x80, 0xFF] {
                var damaged = bytes
                damaged[position] ^= mask
                guard let decoded = try? decode(damaged) else { continue }
                XCTAssertTrue(blockBytes.contains(position), "byte \(position) ^ \(mask) passed outside a block")
                XCTAssertEqual(decoded.allFiles, expected, "byte \(position) ^ \(mask)")
                harmless += 1
            }
        }
        XCTAssertLessThan(harmless, bytes.count / 20)
    }

    func testTruncationAtEveryByte() throws {
        let bytes = try smallStream()
        for end in 0..<bytes.count {
            var reader = SnapshotReader()
            try reader.feed(Array(bytes[..<end]))  // what arrived is fine so far
            XCTAssertThrowsError(try reader.finish(), "cut at \(end)") {
                guard case .truncated = ($0 as? SnapshotError)?.reason else { return XCTFail("\($0)") }
                XCTAssertEqual(($0 as? SnapshotError)?.location, .stream(offset: end))
            }
        }
    }

    func testTruncationNamesThePart() throws {
        let header = Craft.header(revision: 1)
        let chunk = Craft.chunk(Craft.record("/a", rev: 1))
        func part(_ bytes: [UInt8]) -> SnapshotError.Reason? { decodingError(bytes)?.reason }
        XCTAssertEqual(part([]), .truncated(.header))
        XCTAssertEqual(part(header), .truncated(.chunkOrTrailer))
        XCTAssertEqual(part(header + chunk.dropLast()), .truncated(.chunk))
        XCTAssertEqual(part(header + chunk + [0x45, 1]), .truncated(.trailer))
    }

    func testUnknownVersionIsRefusedClearly() throws {
        let error = decodingError(Craft.header(revision: 5, version: 2) + Craft.trailer(count: 0, checksum: 0))
        XCTAssertEqual(error, SnapshotError(reason: .unsupportedVersion(2), location: .stream(offset: 6)))
        XCTAssertEqual(error?.description, "snapshot: byte 6: unsupported format version 2 (this reader knows version 1)")
        // Refused from the first seven bytes, whatever a later version's header looks like.
        var reader = SnapshotReader()
        XCTAssertThrowsError(try reader.feed(b("DZSNAP") + [7])) {
            XCTAssertEqual(($0 as? SnapshotError)?.reason, .unsupportedVersion(7))
        }
        var notASnapshot = SnapshotReader()
        XCTAssertThrowsError(try notASnapshot.feed(b("GET"))) {
            XCTAssertEqual(($0 as? SnapshotError)?.reason, .badMagic)
        }
    }

    func testHeaderProblems() {
        var badMagic = Craft.header(revision: 1)
        badMagic[0] = UInt8(ascii: "X")
        XCTAssertEqual(decodingError(badMagic)?.reason, .badMagic)
        XCTAssertEqual(decodingError(Craft.header(revision: 1, flags: 4))?.reason, .unknownFlags(4))
        XCTAssertEqual(decodingError(Craft.header(revision: UInt64(Int64.max) + 1))?.reason,
                       .revisionTooLarge(UInt64(Int64.max) + 1))
        var badChecksum = Craft.header(revision: 1)
        badChecksum[8] = 2
        guard case .headerChecksumMismatch = decodingError(badChecksum)?.reason else { return XCTFail() }
    }

    /// Lengths are refused as soon as the 13 bytes of a chunk's frame header are in, before
    /// anything is buffered for its block.
    func testOversizedLengthsAreRefusedBeforeBuffering() throws {
        let header = Craft.header(revision: 1)
        let max = UInt32(SnapshotFormat.maxChunkLength)
        let limit = LZ4.compressBound(SnapshotFormat.maxChunkLength)!
        let cases: [(compressed: UInt32, raw: UInt32, SnapshotError)] = [
            (100, max + 1, SnapshotError(reason: .rawLengthOutOfRange(max + 1), location: .stream(offset: 25))),
            (100, 0, SnapshotError(reason: .rawLengthOutOfRange(0), location: .stream(offset: 25))),
            (.max, max, SnapshotError(reason: .compressedLengthOutOfRange(.max, minimum: 263_173, limit: limit),
                                      location: .stream(offset: 21))),
            (0, 10, SnapshotError(reason: .compressedLengthOutOfRange(0, minimum: 1, limit: 26), location: .stream(offset: 21))),
            (27, 10, SnapshotError(reason: .compressedLengthOutOfRange(27, minimum: 1, limit: 26), location: .stream(offset: 21))),
            // No lz4 block expands more than 255-fold: a few bytes never make the reader
            // allocate and clear 64 MiB.
            (1, max, SnapshotError(reason: .compressedLengthOutOfRange(1, minimum: 263_173, limit: limit),
                                   location: .stream(offset: 21))),
            (1, 256, SnapshotError(reason: .compressedLengthOutOfRange(1, minimum: 2, limit: 273), location: .stream(offset: 21))),
        ]
        for (compressed, raw, expected) in cases {
            var reader = SnapshotReader()
            try reader.feed(header)
            XCTAssertThrowsError(try reader.feed([0x46] + Craft.le(compressed) + Craft.le(raw) + Craft.le(UInt32(0)))) {
                XCTAssertEqual($0 as? SnapshotError, expected)
            }
        }
    }

    /// No lz4 block expands more than 255-fold, so a chunk of a few compressed bytes cannot
    /// announce 64 MiB of raw bytes and make the reader allocate and clear them.
    func testTinyBlockCannotAnnounceAHugeChunk() throws {
        var reader = SnapshotReader()
        try reader.feed(Craft.header(revision: 1))
        let max = UInt32(SnapshotFormat.maxChunkLength)
        XCTAssertThrowsError(try reader.feed([0x46] + Craft.le(UInt32(1)) + Craft.le(max) + Craft.le(UInt32(0))))
    }

    func testUnitProblems() throws {
        let header = Craft.header(revision: 9)
        let raw = Craft.record("/a", rev: 1, b("x"))
        let good = Craft.stream(revision: 9, raw: raw, files: 1)
        XCTAssertNoThrow(try decode(good))

        XCTAssertEqual(decodingError(header + [0x47])?.reason, .unknownKind(0x47))
        XCTAssertEqual(decodingError(good + [0])?.reason, .bytesAfterTrailer)
        XCTAssertEqual(decodingError(good + [0])?.location, .stream(offset: good.count))

        var badBlock = Craft.chunk(raw)
        badBlock[13] ^= 0xF0  // the block's first token: literal and match lengths
        XCTAssertEqual(decodingError(header + badBlock)?.location, .stream(offset: 20 + 13))

        var badChecksum = Craft.chunk(raw)
        badChecksum[9] ^= 1
        guard case .chunkChecksumMismatch = decodingError(header + badChecksum)?.reason else { return XCTFail() }

        let chunk = Craft.chunk(raw)
        XCTAssertEqual(decodingError(header + chunk + Craft.trailer(count: 2, checksum: CRC32C.checksum(raw)))?.reason,
                       .fileCountMismatch(stored: 2, counted: 1))
        XCTAssertEqual(decodingError(header + chunk + Craft.trailer(count: 1, checksum: 7))?.reason,
                       .streamChecksumMismatch(stored: 7, computed: CRC32C.checksum(raw)))
        // A chunk lost on the way: each chunk is intact, the trailer is not satisfied.
        let second = Craft.record("/b", rev: 2)
        let stream = header + Craft.chunk(second)
            + Craft.trailer(count: 2, checksum: CRC32C.checksum(raw + second))
        XCTAssertEqual(decodingError(stream)?.reason, .fileCountMismatch(stored: 2, counted: 1))
    }

    /// Records that are well-formed bytes but not a valid tree, each with where it starts.
    func testRecordProblems() {
        let a = Craft.record("/a", rev: 1)
        let cases: [(raw: [UInt8], reason: SnapshotError.Reason, rawOffset: Int)] = [
            (Craft.record("/", rev: 1), .invalidPath(b("/")), 0),
            (Craft.record("/a/", rev: 1), .invalidPath(b("/a/")), 0),
            (Craft.record("a", rev: 1), .invalidPath(b("a")), 0),
            (Craft.record("/a_b", rev: 1), .invalidPath(b("/a_b")), 0),
            (a + Craft.record("/a", rev: 2), .pathOutOfOrder(previous: b("/a"), path: b("/a")), a.count),
            (Craft.record("/a-b", rev: 1) + Craft.record("/a/b", rev: 2),
             .pathOutOfOrder(previous: b("/a-b"), path: b("/a/b")), a.count + 2),
            (a + Craft.record("/a/b", rev: 2), .pathBelowFile(b("/a/b")), a.count),
            (Craft.record("/a", rev: 0), .revOutOfRange(0, revision: 9), 0),
            (Craft.record("/a", rev: 10), .revOutOfRange(10, revision: 9), 0),
            (Array(a.dropLast()) + [5], .truncatedRecord(.body), 5),
            ([2, 0x2F], .truncatedRecord(.path), 1),
            ([0x80], .truncatedRecord(.pathLength), 0),
            ([0x82, 0x00], .malformedVarint(.pathLength), 0),
            (Array(a.prefix(3)) + Array(repeating: 0xFF, count: 9) + [0x02], .malformedVarint(.rev), 3),
            (Array(a.prefix(3)) + Array(repeating: 0xFF, count: 10) + [0x01], .malformedVarint(.rev), 3),
        ]
        for (raw, reason, rawOffset) in cases {
            let error = decodingError(Craft.stream(revision: 9, raw: raw, files: 2))
            XCTAssertEqual(error, SnapshotError(reason: reason, location: .record(chunk: 0, frameOffset: 20, rawOffset: rawOffset)),
                           "\(raw)")
        }
    }

    func testTheLargestRevFits() throws {
        let raw = Craft.record("/a", rev: UInt64(Int64.max))
        let snapshot = try decode(Craft.stream(revision: UInt64(Int64.max), raw: raw, files: 1))
        XCTAssertEqual(snapshot.lookup("/a"), .file(body: [], rev: .max))
    }

    func testAnErrorIsFinal() throws {
        var reader = SnapshotReader()
        let bad = Craft.header(revision: 1, version: 3)
        XCTAssertThrowsError(try reader.feed(bad))
        XCTAssertThrowsError(try reader.feed(Craft.header(revision: 1))) {
            XCTAssertEqual(($0 as? SnapshotError)?.reason, .unsupportedVersion(3))
        }
        XCTAssertThrowsError(try reader.finish())
        XCTAssertFalse(reader.isComplete)
        XCTAssertNil(reader.rewindForResume())
    }

    func testMessagesSayWhatAndWhere() {
        let error = SnapshotError(reason: .pathOutOfOrder(previous: b("/b"), path: b("/a\u{1}")),
                                  location: .record(chunk: 3, frameOffset: 1234, rawOffset: 56))
        XCTAssertEqual(error.description,
                       "snapshot: chunk 3 (stream byte 1234), raw byte 56: path \"/a\\x01\" does not sort after the previous path \"/b\"")
    }
}
