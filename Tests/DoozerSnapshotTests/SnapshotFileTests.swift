// SnapshotFile: a stream written through a temporary file and renamed reads back as the same
// tree; a discarded write leaves the old file; a damaged or missing file fails naming the file.

import DoozerSnapshot
import DoozerStore
import Foundation
import XCTest

final class SnapshotFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("snapshot-file-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func sampleStore() -> Store {
        let store = Store(history: 100)
        store.set("/a/b", "one")
        store.set("/a/binary", [0, 255, 10, 61])
        store.set("/gone", "soon")
        store.del("/gone")
        return store
    }

    private func write(_ snapshot: Snapshot, to path: String) throws {
        let file = try SnapshotFile.Writer(path: path)
        for unit in try encodeUnits(snapshot, target: 16) { try file.append(unit) }
        try file.commit()
    }

    func testWrittenFileReadsBackAsTheSameTree() throws {
        let original = sampleStore().current
        let path = directory + "/backup.dzsnap"
        try write(original, to: path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
        assertRestores(try SnapshotFile.read(path), original)
    }

    func testDiscardKeepsTheOldFile() throws {
        let store = sampleStore()
        let path = directory + "/backup.dzsnap"
        try write(store.current, to: path)
        store.set("/later", "x")
        let file = try SnapshotFile.Writer(path: path)
        try file.append(try encode(store.current))
        file.discard()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
        XCTAssertEqual(try SnapshotFile.read(path).rev, store.rev - 1, "the old file is untouched")
    }

    func testDamagedAndMissingFilesNameTheFileAndTheProblem() throws {
        let bytes = try encode(sampleStore().current)
        let truncated = directory + "/truncated"
        XCTAssertTrue(FileManager.default.createFile(atPath: truncated, contents: Data(bytes.dropLast(3))))
        XCTAssertThrowsError(try SnapshotFile.read(truncated)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(truncated): snapshot: byte "), "\(error)")
            XCTAssertTrue("\(error)".contains("ends"), "\(error)")
        }
        let missing = directory + "/missing"
        XCTAssertThrowsError(try SnapshotFile.read(missing)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(missing): open: No such file"), "\(error)")
        }
        XCTAssertThrowsError(try SnapshotFile.Writer(path: directory + "/no/such/dir/file")) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(directory)/no/such/dir/file.tmp: open: "), "\(error)")
        }
    }
}
