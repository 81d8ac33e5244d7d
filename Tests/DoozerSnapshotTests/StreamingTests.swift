import DoozerSnapshot
import DoozerStore
import XCTest
import DoozerTestSupport

/// Streams split anywhere, and resumption at chunk boundaries.
final class StreamingTests: XCTestCase {
    /// About 40 files in chunks of about 100 raw bytes: every kind of unit, small enough to
    /// split at every byte.
    private func smallSnapshot() -> Snapshot {
        let store = Store(history: 100)
        for i in 0..<40 { store.set("/s\(i % 3)/f\(i)", String(repeating: "v", count: i % 9)) }
        store.nop()
        return store.current
    }

    func testOneByteAtATime() throws {
        let original = smallSnapshot()
        let bytes = try encode(original, target: 100)
        assertRestores(try decode(bytes, pieces: Array(repeating: 1, count: bytes.count)), original)
    }

    func testTwoPiecesSplitAtEveryByte() throws {
        let original = smallSnapshot()
        let bytes = try encode(original, target: 100)
        for cut in 0...bytes.count {
            XCTAssertEqual(try decode(bytes, pieces: [cut]).allFiles, original.allFiles, "cut at \(cut)")
        }
    }

    func testRandomSplits() throws {
        let original = smallSnapshot()
        let bytes = try encode(original, target: 100)
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200 {
            let pieces = (0..<40).map { _ in 1 + rng.below(rng.below(2) == 0 ? 8 : 200) }
            XCTAssertEqual(try decode(bytes, pieces: pieces).allFiles, original.allFiles, "\(pieces)")
        }
    }

    /// A connection breaks anywhere; the receiver resumes at its chunk count with a writer
    /// that skips that many chunks, and ends with the same snapshot.
    func testResumeAfterABreakAnywhere() throws {
        let original = smallSnapshot()
        let units = try encodeUnits(original, target: 100)
        let bytes = units.flatMap { $0 }
        let chunkCount = units.count - 2
        XCTAssertGreaterThan(chunkCount, 3)
        for cut in SnapshotFormat.headerLength..<bytes.count {
            var reader = SnapshotReader()
            try reader.feed(Array(bytes[..<cut]))
            let resumeAt = try XCTUnwrap(reader.rewindForResume())
            var writer = try SnapshotWriter(original, resumingAtChunk: resumeAt, targetChunkLength: 100)
            var resumed: [[UInt8]] = []
            while let unit = try writer.next() {
                resumed.append(unit)
                try reader.feed(unit)
            }
            XCTAssertEqual(resumed, Array(units[(1 + resumeAt)...]), "resumed at chunk \(resumeAt)")
            XCTAssertEqual(try reader.finish().allFiles, original.allFiles, "broken at byte \(cut)")
        }
    }

    func testNothingToResumeBeforeTheHeader() throws {
        let bytes = try encode(smallSnapshot(), target: 100)
        var reader = SnapshotReader()
        try reader.feed(Array(bytes[..<(SnapshotFormat.headerLength - 1)]))
        XCTAssertNil(reader.rewindForResume())
        try reader.feed(bytes)  // start over
        XCTAssertTrue(reader.isComplete)
    }

    func testResumeBeyondTheEndIsRefused() throws {
        let snapshot = smallSnapshot()
        let chunkCount = try encodeUnits(snapshot, target: 100).count - 2
        XCTAssertNoThrow(try SnapshotWriter(snapshot, resumingAtChunk: chunkCount, targetChunkLength: 100))
        XCTAssertThrowsError(try SnapshotWriter(snapshot, resumingAtChunk: chunkCount + 1, targetChunkLength: 100)) {
            XCTAssertEqual($0 as? SnapshotEncodingError, .resumeBeyondEnd(chunk: chunkCount + 1, chunkCount: chunkCount))
        }
    }

    func testAcceptedOffsetsFollowUnits() throws {
        let units = try encodeUnits(smallSnapshot(), target: 100)
        var reader = SnapshotReader()
        var offset = 0
        for (i, unit) in units.enumerated() {
            XCTAssertEqual(reader.acceptedOffset, offset)
            XCTAssertEqual(reader.chunksAccepted, max(0, i - 1))
            try reader.feed(unit)
            offset += unit.count
        }
        XCTAssertEqual(reader.acceptedOffset, offset)
        XCTAssertTrue(reader.isComplete)
    }
}
