import DoozerSnapshot
import DoozerStore
import XCTest
import DoozerTestSupport

final class RoundTripTests: XCTestCase {
    func testEmptyStore() throws {
        let original = Store(history: 10).current
        let bytes = try encode(original)
        XCTAssertEqual(bytes.count, SnapshotFormat.headerLength + SnapshotFormat.trailerLength)
        XCTAssertEqual(Array(bytes.prefix(8)), b("DZSNAP") + [1, 0])
        let restored = try decode(bytes)
        XCTAssertEqual(restored.rev, 0)
        XCTAssertEqual(restored.rootCount, 0)
        assertRestores(restored, original)
    }

    /// Nested directories, empty and binary bodies, and a revision past the last file write
    /// (deletes and no-ops at the end): the store is installed as R, not as its newest file (B8).
    func testNestedDirectoriesEmptyBodiesAndLaterRevision() throws {
        let store = Store(history: 100)
        store.set("/ctl/name", "local")
        store.set("/ctl/node/ABC/addr", "127.0.0.1:8046")
        store.set("/a/b/c/d/e", "deep")
        store.set("/a/b/empty", [])
        store.set("/a-b", "dash sorts before slash, after it here")
        store.set("/a.b/x", [0x00, 0xFF, 0x3D, 0x3A, 0x0A])
        store.set("/z", [])
        store.set("/gone", "soon")
        store.del("/gone")
        store.nop()
        let original = store.current
        XCTAssertEqual(original.rev, 10)
        let restored = try decode(try encode(original))
        XCTAssertEqual(restored.allFiles.map { String(decoding: $0.path, as: UTF8.self) },
                       ["/a/b/c/d/e", "/a/b/empty", "/a-b", "/a.b/x", "/ctl/name", "/ctl/node/ABC/addr", "/z"])
        assertRestores(restored, original)
        // A conditional write naming a restored file's rev succeeds: the revs came back.
        let restoredStore = Store(history: 10, restoring: restored)
        XCTAssertNil(restoredStore.apply(b("3:/a/b/c/d/e=new")).event.error)
        XCTAssertEqual(restoredStore.apply(b("1:/ctl/node/ABC/addr=x")).event.error, .revMismatch)
    }

    func testTwoMiBBodyGetsAChunkOfItsOwn() throws {
        let store = Store(history: 10)
        var rng = SplitMix64(seed: 7)
        store.set("/a", "small")
        store.set("/big", rng.bytes(2 << 20))
        store.set("/c", "small")
        let original = store.current
        let units = try encodeUnits(original)
        let chunks = units.dropFirst().dropLast()
        XCTAssertEqual(chunks.map(rawLength), [10, 2_097_162, 10])
        assertRestores(try decode(units.flatMap { $0 }), original)
    }

    func testFiftyThousandFilesOf64Bytes() throws {
        var snapshot = Snapshot(emptyAt: 60_000)
        var rng = SplitMix64(seed: 50)
        for i in 0..<50_000 {
            snapshot.insertFile("/d\(i % 50)/f\(i)", body: rng.bytes(64), rev: Int64(i + 1))
        }
        let units = try encodeUnits(snapshot)
        let chunks = units.dropFirst().dropLast()
        XCTAssertGreaterThan(chunks.count, 10)
        XCTAssertTrue(chunks.allSatisfy { rawLength($0) <= SnapshotFormat.defaultTargetChunkLength })
        let restored = try decode(units.flatMap { $0 })
        XCTAssertEqual(restored.allFiles.count, 50_000)
        assertRestores(restored, snapshot)
    }

    /// The bytes depend only on the snapshot's contents: encoding twice, after later writes to
    /// the store, or a tree built in another order gives the same stream.
    func testEncodingIsDeterministic() throws {
        let store = Store(history: 10)
        var paths: [String] = []
        for i in 0..<300 {
            paths.append("/dir\(i % 7)/file-\(i)")
            store.set(paths.last!, "body \(i)")
        }
        let snapshot = store.current
        let first = try encode(snapshot, target: 1000)
        for i in 0..<50 { store.set("/dir\(i % 7)/file-\(i)", "changed") }
        XCTAssertEqual(try encode(snapshot, target: 1000), first)

        var reversed = Snapshot(emptyAt: snapshot.rev)
        for (i, p) in paths.enumerated().reversed() { reversed.insertFile(p, body: b("body \(i)"), rev: Int64(i + 1)) }
        XCTAssertEqual(try encode(reversed, target: 1000), first)
    }

    /// A record longer than the chunk limit is an encoding error, not a malformed stream.
    func testFileAboveTheChunkLimitIsRefused() throws {
        var snapshot = Snapshot(emptyAt: 1)
        snapshot.insertFile("/huge", body: [UInt8](repeating: 1, count: SnapshotFormat.maxChunkLength), rev: 1)
        var writer = SnapshotWriter(snapshot)
        XCTAssertNotNil(try writer.next())  // the header
        XCTAssertThrowsError(try writer.next()) { error in
            XCTAssertEqual(error as? SnapshotEncodingError,
                           .fileTooLarge(path: b("/huge"), recordLength: SnapshotFormat.maxChunkLength + 11))
        }
    }

    /// A hand-built snapshot can hold revs a stream cannot carry; the writer says which.
    func testRevOutsideTheRevisionIsRefused() throws {
        for rev: Int64 in [0, -1, 6] {
            var snapshot = Snapshot(emptyAt: 5)
            snapshot.insertFile("/a", body: [], rev: rev)
            var writer = SnapshotWriter(snapshot)
            _ = try writer.next()
            XCTAssertThrowsError(try writer.next()) {
                XCTAssertEqual($0 as? SnapshotEncodingError, .revOutOfRange(path: b("/a"), rev: rev, revision: 5))
            }
        }
    }
}

/// The raw length field of a chunk frame.
func rawLength(_ chunk: [UInt8]) -> Int {
    Int(chunk[5]) | Int(chunk[6]) << 8 | Int(chunk[7]) << 16 | Int(chunk[8]) << 24
}
