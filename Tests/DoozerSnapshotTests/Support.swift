import DoozerSnapshot
import DoozerStore
import DoozerSystem
import XCTest
import DoozerTestSupport

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

extension Store {
    @discardableResult
    func set(_ path: String, _ body: [UInt8]) -> Store.Applied { apply(b("-1:\(path)=") + body) }
    @discardableResult
    func set(_ path: String, _ body: String) -> Store.Applied { set(path, b(body)) }
    @discardableResult
    func del(_ path: String) -> Store.Applied { apply(b("-1:\(path)")) }
    @discardableResult
    func nop() -> Store.Applied { apply(b("nop:")) }
}

extension Snapshot {
    /// Every file in enumeration order.
    var allFiles: [Snapshot.WalkHit] { Array(fileCursor()) }
}

/// The whole stream of `snapshot`, unit by unit (header, chunks, trailer).
func encodeUnits(_ snapshot: Snapshot, target: Int = SnapshotFormat.defaultTargetChunkLength) throws -> [[UInt8]] {
    var writer = SnapshotWriter(snapshot, targetChunkLength: target)
    var units: [[UInt8]] = []
    while let unit = try writer.next() { units.append(unit) }
    return units
}

func encode(_ snapshot: Snapshot, target: Int = SnapshotFormat.defaultTargetChunkLength) throws -> [UInt8] {
    try encodeUnits(snapshot, target: target).flatMap { $0 }
}

/// Decodes `bytes` fed in pieces of the given lengths (the rest in one piece).
func decode(_ bytes: [UInt8], pieces: [Int] = []) throws(SnapshotError) -> Snapshot {
    var reader = SnapshotReader()
    var at = 0
    for n in pieces where at < bytes.count {
        let end = min(bytes.count, at + n)
        try reader.feed(Array(bytes[at..<end]))
        at = end
    }
    try reader.feed(Array(bytes[at...]))
    return try reader.finish()
}

/// The error decoding `bytes` gives (failing the test if there is none).
func decodingError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> SnapshotError? {
    do {
        _ = try decode(bytes)
        XCTFail("decoded without an error", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Hand-made units, for streams a writer would never produce.
enum Craft {
    static func header(revision: UInt64, version: UInt8 = 1, flags: UInt8 = 0) -> [UInt8] {
        var h = b("DZSNAP") + [version, flags]
        h += le(revision)
        return h + le(CRC32C.checksum(h))
    }

    static func chunk(_ raw: [UInt8]) -> [UInt8] {
        let block = try! LZ4.compress(raw)
        return [0x46] + le(UInt32(block.count)) + le(UInt32(raw.count)) + le(CRC32C.checksum(raw)) + block
    }

    static func trailer(count: UInt64, checksum: UInt32) -> [UInt8] {
        [0x45] + le(count) + le(checksum)
    }

    static func record(_ path: String, rev: UInt64, _ body: [UInt8] = []) -> [UInt8] {
        varint(UInt64(path.utf8.count)) + b(path) + varint(rev) + varint(UInt64(body.count)) + body
    }

    /// A whole stream at `revision` with one chunk of `raw` and a matching trailer.
    static func stream(revision: UInt64, raw: [UInt8], files: UInt64) -> [UInt8] {
        header(revision: revision) + chunk(raw) + trailer(count: files, checksum: CRC32C.checksum(raw))
    }

    static func varint(_ v: UInt64) -> [UInt8] {
        var v = v
        var out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        return out + [UInt8(v)]
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }
}

/// Checks that `restored`, installed in a store, is `original` as revision R and takes writes.
func assertRestores(_ restored: Snapshot, _ original: Snapshot, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(restored.rev, original.rev, file: file, line: line)
    XCTAssertEqual(restored.allFiles, original.allFiles, file: file, line: line)
    let store = Store(history: 100, restoring: restored)
    XCTAssertEqual(store.rev, original.rev, file: file, line: line)
    XCTAssertEqual(store.oldestRetained, original.rev + 1, file: file, line: line)
    let applied = store.set("/after/restore", "x")
    XCTAssertNil(applied.event.error, file: file, line: line)
    XCTAssertEqual(store.rev, original.rev + 1, file: file, line: line)
    XCTAssertEqual(store.current.lookup("/after/restore"), .file(body: b("x"), rev: original.rev + 1),
                   file: file, line: line)
}
