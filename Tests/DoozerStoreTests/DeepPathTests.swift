import XCTest
@testable import DoozerStore

/// Paths as deep as a client likes: every tree operation must work without recursing per
/// path component (issue 10: one SET of a 23,000-component path overflowed the stack).
final class DeepPathTests: XCTestCase {
    /// 100,000 components, "/a/a/…/a/f": far deeper than any stack of one frame per level.
    static let depth = 100_000
    static let directory = String(repeating: "/a", count: depth - 1)
    static let file = directory + "/f"

    func testSetReadWalkDeleteAndRelease() {
        let s = Store(history: 10)
        s.set(Self.file, "deep")                         // 1
        XCTAssertNil(s.set(Self.directory + "/g", "sibling").event.error)   // 2
        XCTAssertEqual(s.current.lookup(Self.file), .file(body: b("deep"), rev: 1))
        XCTAssertEqual(s.current.lookup(Self.directory), .directory(count: 2))
        XCTAssertEqual(s.current.names(Self.directory), ["f", "g"])
        XCTAssertEqual(s.current.walkAll("/**/f").map(\.count), [Self.file.utf8.count])
        XCTAssertEqual(s.current.walkAll("/a/**"), [Self.file, Self.directory + "/g"])
        XCTAssertEqual(s.current.files.map(\.0), [Self.file, Self.directory + "/g"])

        XCTAssertEqual(s.del(Self.file).event.kind, .delete)   // 3
        XCTAssertEqual(s.current.lookup(Self.file), .missing)
        s.del(Self.directory + "/g")                              // 4: prunes every directory
        XCTAssertEqual(s.current.lookup("/a"), .missing)
        XCTAssertEqual(s.current.rootCount, 0)

        // Older revisions are rebuilt by undoing and replaying the deep writes.
        XCTAssertEqual(s.snap(2)?.lookup(Self.file), .file(body: b("deep"), rev: 1))
        XCTAssertEqual(s.snap(1)?.lookup(Self.directory + "/g"), .missing)
        XCTAssertEqual(s.snap(3)?.lookup(Self.directory + "/g"), .file(body: b("sibling"), rev: 2))
        // Dropping the store (tree, history and cached rebuilds) must not recurse either.
    }

    func testForcedErrorWriteReplacesDeepDirectory() {
        let s = Store(history: 1)   // history 1: the deep tree dies as soon as it is replaced
        s.set("/ctl/err" + Self.directory + "/f", "x")   // 1
        // A failing mutation writes /ctl/err whatever is there, replacing the deep directory;
        // its undo keeps it until history moves on, then it is released.
        s.set("/q", "")                                                     // 2
        XCTAssertEqual(s.set("/q", "", rev: 1).event.error, .revMismatch)   // 3
        XCTAssertEqual(s.current.lookup("/ctl/err/a"), .missing)
        s.nop()
        s.nop()
    }

    func testDeepSnapshotInsertAndWait() {
        var snapshot = Snapshot(emptyAt: 7)
        XCTAssertTrue(snapshot.insertFile(Self.file, body: b("v"), rev: 3))
        let s = Store(history: 10, restoring: snapshot)
        XCTAssertEqual(s.current.lookup(Self.file), .file(body: b("v"), rev: 3))
        guard case .pending = s.wait("/a/**", from: 8, id: 1) else { return XCTFail("should wait") }
        XCTAssertEqual(s.set(Self.file, "w").ids, [1])
    }
}
