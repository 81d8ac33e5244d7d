import XCTest
@testable import DoozerStore

final class ApplyTests: XCTestCase {
    /// A store where /f is a file with rev 5 and /d is a directory (holding /d/x).
    func fixture() -> Store {
        let s = Store(history: 100)
        s.nop(); s.nop(); s.nop()
        s.set("/d/x", "in d")   // 4
        s.set("/f", "file")     // 5
        XCTAssertEqual(s.current.lookup("/f"), .file(body: b("file"), rev: 5))
        return s
    }

    enum Outcome: Equatable { case ok, mismatch, isDir }

    func run(_ op: String, _ target: String, rev: Int64) -> Outcome {
        let s = fixture()
        let path = ["missing": "/m", "file": "/f", "dir": "/d"][target]!
        let before = s.current
        let a = op == "set" ? s.set(path, "new", rev: rev) : s.del(path, rev: rev)
        XCTAssertEqual(a.event.seqn, 6)
        XCTAssertEqual(s.rev, 6)
        switch a.event.error {
        case nil:
            XCTAssertEqual(str(a.event.path), path)
            if op == "set" {
                XCTAssertEqual(a.event.kind, .set)
                XCTAssertEqual(a.event.rev, 6)
                XCTAssertEqual(s.current.lookup(path), .file(body: b("new"), rev: 6))
            } else {
                XCTAssertEqual(a.event.kind, .delete)
                XCTAssertEqual(a.event.rev, 0)
                XCTAssertEqual(a.event.flags, 8)
                XCTAssertEqual(s.current.lookup(path), .missing)
            }
            return .ok
        case .revMismatch?, .isDirectory?:
            // Tree unchanged except /ctl/err.
            XCTAssertEqual(s.current.lookup(path), before.lookup(path))
            XCTAssertEqual(str(a.event.path), "/ctl/err")
            XCTAssertEqual(s.current.lookup("/ctl/err"), .file(body: a.event.body, rev: 6))
            return a.event.error == .revMismatch ? .mismatch : .isDir
        default:
            XCTFail("unexpected \(String(describing: a.event.error))")
            return .ok
        }
    }

    /// Every cell of the §3.6 table (cur = 5 for the file).
    func testConditionTable() {
        let table: [(Int64, [Outcome])] = [
            // rev: SET missing, SET file, DEL missing, DEL file, SET dir, DEL dir
            (-1, [.ok, .ok, .ok, .ok, .isDir, .isDir]),
            (0, [.ok, .mismatch, .ok, .mismatch, .isDir, .isDir]),
            (3, [.ok, .mismatch, .ok, .mismatch, .isDir, .isDir]),      // 1 ≤ r < cur
            (5, [.ok, .ok, .ok, .ok, .isDir, .isDir]),                  // r = cur
            (1005, [.ok, .ok, .ok, .ok, .isDir, .isDir]),               // r ≫ cur
            (-2, [.mismatch, .mismatch, .mismatch, .mismatch, .isDir, .isDir]),
            (-3, [.mismatch, .mismatch, .mismatch, .mismatch, .mismatch, .mismatch]),
            (-100, [.mismatch, .mismatch, .mismatch, .mismatch, .mismatch, .mismatch]),
            (Int64.min, [.mismatch, .mismatch, .mismatch, .mismatch, .mismatch, .mismatch]),
        ]
        let cells = [("set", "missing"), ("set", "file"), ("del", "missing"), ("del", "file"), ("set", "dir"), ("del", "dir")]
        for (rev, want) in table {
            for (i, (op, target)) in cells.enumerated() {
                XCTAssertEqual(run(op, target, rev: rev), want[i], "\(op) \(target) rev \(rev)")
            }
        }
    }

    func testRootIsADirectory() {
        let s = Store(history: 10)
        XCTAssertEqual(s.set("/", "x", rev: -1).event.error, .isDirectory)
        XCTAssertEqual(s.del("/", rev: 0).event.error, .isDirectory)
        XCTAssertEqual(s.del("/", rev: -2).event.error, .isDirectory)
        XCTAssertEqual(s.del("/", rev: -3).event.error, .revMismatch)
        XCTAssertEqual(s.current.lookup("/"), .directory(count: 1))  // just /ctl
    }

    func testFailedMutationWritesCtlErr() {
        let s = fixture()
        let m = Mutation.set("/f", rev: 0, body: "nope")
        let a = s.apply(m)
        XCTAssertEqual(a.event.error, .revMismatch)
        XCTAssertEqual(a.event.kind, .set)
        XCTAssertEqual(a.event.flags, 4)
        XCTAssertEqual(a.event.seqn, 6)
        XCTAssertEqual(a.event.rev, 6)
        XCTAssertEqual(a.event.path, b("/ctl/err"))
        XCTAssertEqual(a.event.body, b("rev mismatch"))
        XCTAssertEqual(a.event.mutation, m)  // the original mutation is kept
        XCTAssertEqual(s.current.lookup("/ctl/err"), .file(body: b("rev mismatch"), rev: 6))
        XCTAssertEqual(s.current.lookup("/f"), .file(body: b("file"), rev: 5))
        XCTAssertEqual(s.event(at: 6)?.mutation, m)

        // NOTDIR: an ancestor is a file. The ancestor check precedes the condition.
        for rev: Int64 in [-1, 0, -3, 99] {
            let n = s.set("/f/x/y", "v", rev: rev)
            XCTAssertEqual(n.event.error, .notDirectory, "rev \(rev)")
            XCTAssertEqual(n.event.body, b("not a directory"))
            XCTAssertEqual(s.current.lookup("/ctl/err"), .file(body: b("not a directory"), rev: n.event.seqn))
            XCTAssertEqual(s.current.lookup("/f"), .file(body: b("file"), rev: 5))
        }
        // ISDIR vs rev mismatch ordering on a directory (§3.5: `-3:/ctl` vs `0:/ctl`).
        XCTAssertEqual(s.apply(b("-3:/ctl")).event.error, .revMismatch)
        XCTAssertEqual(s.apply(b("0:/ctl")).event.error, .isDirectory)
        XCTAssertEqual(s.apply(b("0:/ctl=x")).event.error, .isDirectory)
        XCTAssertEqual(s.current.lookup("/ctl/err"), .file(body: b("is a directory"), rev: s.rev))

        // Decode failures.
        for (m, e) in [("1:/x y=z", MutationError.badPath), ("1:/x/", .badPath), ("hello", .badMutation),
                       ("x:/a=1", .badRev), ("", .badMutation)] {
            let r = s.apply(b(m))
            XCTAssertEqual(r.event.error, e, m)
            XCTAssertEqual(r.event.path, b("/ctl/err"))
            XCTAssertEqual(r.event.body, b(e.text))
            XCTAssertEqual(r.event.mutation, b(m))
            XCTAssertEqual(s.current.lookup("/ctl/err"), .file(body: b(e.text), rev: r.event.seqn))
        }
        XCTAssertEqual(s.current.lookup("/x"), .missing)
    }

    func testCtlErrWriteAlwaysLands() {
        // Like the original, the forced /ctl/err write replaces whatever is in its way.
        let s = Store(history: 10)
        s.set("/ctl", "a file")
        let a = s.set("/nope", "x", rev: -5)
        XCTAssertEqual(a.event.error, .revMismatch)
        XCTAssertEqual(s.current.lookup("/ctl/err"), .file(body: b("rev mismatch"), rev: 2))
        XCTAssertEqual(s.current.lookup("/ctl"), .directory(count: 1))
        let t = Store(history: 10)
        t.set("/ctl/err/deep", "x")
        t.set("/q", "x", rev: -2)
        XCTAssertEqual(t.current.lookup("/ctl/err"), .file(body: b("rev mismatch"), rev: 2))
    }

    func testImplicitDirectoriesAndPruning() {
        let s = Store(history: 10)
        s.set("/a/b/c", "1")
        XCTAssertEqual(s.current.lookup("/a"), .directory(count: 1))
        XCTAssertEqual(s.current.lookup("/a/b"), .directory(count: 1))
        XCTAssertEqual(s.current.lookup("/a/b/c"), .file(body: b("1"), rev: 1))
        s.set("/a/x", "2")
        XCTAssertEqual(s.current.lookup("/a"), .directory(count: 2))
        s.del("/a/b/c")
        XCTAssertEqual(s.current.lookup("/a/b"), .missing)
        XCTAssertEqual(s.current.lookup("/a"), .directory(count: 1))
        s.del("/a/x")
        XCTAssertEqual(s.current.lookup("/a"), .missing)
        XCTAssertEqual(s.current.lookup("/"), .directory(count: 0))
        XCTAssertEqual(s.current.names("/"), [])
        // Deleting /d1/d2/f makes /d1 missing.
        s.set("/d1/d2/f", "")
        XCTAssertEqual(s.current.lookup("/d1/d2/f"), .file(body: [], rev: 5))
        s.del("/d1/d2/f", rev: 5)
        XCTAssertEqual(s.current.lookup("/d1"), .missing)
        // Deleting a missing path succeeds with a delete event and changes nothing.
        let root = s.current.root
        let d = s.del("/never/there", rev: 0)
        XCTAssertNil(d.event.error)
        XCTAssertEqual(d.event.kind, .delete)
        XCTAssertEqual(d.event.path, b("/never/there"))
        XCTAssertTrue(s.current.root === root)
    }

    func testB6DeleteBelowAFileLeavesItAlone() {
        let s = Store(history: 10)
        s.set("/file", "keep")
        for rev: Int64 in [-1, 0, 7] {
            let a = s.del("/file/sub", rev: rev)
            XCTAssertNil(a.event.error)
            XCTAssertEqual(a.event.kind, .delete)
            XCTAssertEqual(a.event.flags, 8)
            XCTAssertEqual(a.event.path, b("/file/sub"))
            XCTAssertEqual(a.event.body, [])
            XCTAssertEqual(a.event.rev, 0)
            XCTAssertEqual(s.current.lookup("/file"), .file(body: b("keep"), rev: 1))
        }
        XCTAssertEqual(s.del("/file/sub/deeper", rev: -1).event.error, nil)
        XCTAssertEqual(s.del("/file/sub", rev: -2).event.error, .revMismatch)  // like a missing path
        XCTAssertEqual(s.current.lookup("/file"), .file(body: b("keep"), rev: 1))
    }

    func testEventShapes() {
        let s = Store(history: 10)
        let n = s.nop().event
        XCTAssertEqual(n.kind, .nop)
        XCTAssertEqual(n.path, b("/"))
        XCTAssertEqual(n.body, [])
        XCTAssertEqual(n.rev, -3)
        XCTAssertEqual(n.flags, 0)
        XCTAssertNil(n.error)
        XCTAssertEqual(n.mutation, b("nop:"))
        let body: [UInt8] = [0x00, 0xFF, 0x3D, 0x3A, 0x0A]
        let m = Mutation.set(b("/bin"), rev: 0, body: body)
        let e = s.apply(m).event
        XCTAssertEqual(e.kind, .set)
        XCTAssertEqual(e.flags, 4)
        XCTAssertEqual(e.rev, 2)
        XCTAssertEqual(e.body, body)
        XCTAssertEqual(e.mutation, m)
        XCTAssertEqual(s.current.lookup("/bin"), .file(body: body, rev: 2))
        s.set("/eq", "a=b:c\n")
        XCTAssertEqual(s.current.lookup("/eq"), .file(body: b("a=b:c\n"), rev: 3))
        s.set("/empty", "")
        XCTAssertEqual(s.current.lookup("/empty"), .file(body: [], rev: 4))
        let d = s.del("/bin", rev: 2).event
        XCTAssertEqual(d.kind, .delete)
        XCTAssertEqual(d.rev, 0)
        XCTAssertEqual(d.flags, 8)
        XCTAssertEqual(s.rev, 5)
    }

    func testLookupOfOddPaths() {
        let s = Store(history: 10)
        s.set("/ctl/name", "n")
        for p in ["", "ctl/name", "xctl/name", "/ctl/", "/ctl//name", "//", "/ctl/name/"] {
            XCTAssertEqual(s.current.lookup(p), .missing, p)
        }
        XCTAssertEqual(s.current.entry(ofDirectory: "", at: 0), .noEnt)
        XCTAssertEqual(s.current.entry(ofDirectory: "/ctl/", at: 0), .noEnt)
    }

    func testSnapshotInsertFileAndRestore() {
        var snap = Snapshot(emptyAt: 40)
        XCTAssertTrue(snap.insertFile("/ctl/name", body: b("c"), rev: 1))
        XCTAssertTrue(snap.insertFile("/x/y", body: b("y"), rev: 30))
        XCTAssertFalse(snap.insertFile("/x", body: b(""), rev: 31))      // a directory
        XCTAssertFalse(snap.insertFile("/x/y/z", body: b(""), rev: 31))  // below a file
        XCTAssertFalse(snap.insertFile("/bad path", body: b(""), rev: 31))
        XCTAssertFalse(snap.insertFile("/", body: b(""), rev: 31))
        let frozen = snap
        XCTAssertTrue(snap.insertFile("/late", body: b("l"), rev: 39))
        XCTAssertEqual(frozen.lookup("/late"), .missing)
        let s = Store(history: 5, restoring: snap)
        XCTAssertEqual(s.rev, 40)
        XCTAssertEqual(s.oldestRetained, 41)
        XCTAssertNotNil(s.snap(40))
        XCTAssertNil(s.event(at: 40))
        XCTAssertEqual(s.current.lookup("/x/y"), .file(body: b("y"), rev: 30))
        guard case .tooLate = s.wait("/**", from: 40, id: 1) else { return XCTFail() }
        guard case .pending = s.wait("/**", from: 41, id: 1) else { return XCTFail() }
        let a = s.set("/x/y", "2", rev: 30)
        XCTAssertEqual(a.event.seqn, 41)
        XCTAssertEqual(a.ids, [1])
        XCTAssertEqual(s.snap(40)?.lookup("/x/y"), nil)  // 40 is now before the history window
        XCTAssertEqual(s.snap(41)?.lookup("/x/y"), .file(body: b("2"), rev: 41))
    }
}
