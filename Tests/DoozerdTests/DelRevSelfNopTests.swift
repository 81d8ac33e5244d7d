// §12.4 DEL and §12.5 REV, SELF, NOP.

import DoozerWire
import XCTest

final class DelTests: DoozerdTestCase {
    // 12.4 #40
    func testDeleteWithCurrentRev() throws {
        let c = try connect()
        let path = "/" + unique("del")
        let rev = try c.mustSet(path, "x")
        assertExactly(try c.call(Request(tag: 40, verb: .del, path: path, rev: rev)), Response(tag: 40), "12.4 #40")
        assertExactly(try c.call(Request(tag: 41, verb: .get, path: path)),
                      Response(tag: 41, rev: 0, value: []), "12.4 #40 GET after DEL")
    }

    // 12.4 #41
    func testDeleteWithOlderRevIsRevMismatch() throws {
        let c = try connect()
        let path = "/" + unique("del")
        try c.mustSet(path, "x")
        let rev = try c.mustSet(path, "y")
        assertExactly(try c.call(Request(tag: 41, verb: .del, path: path, rev: rev - 1)),
                      Response(tag: 41, errCode: .revMismatch), "12.4 #41")
        assertError(try c.del(path, rev: 0), .revMismatch, "12.4 #41 (rev 0 on a file)")
        XCTAssertEqual(try c.get(path).rev, rev, "12.4 #41: file still there")
        assertOK(try c.del(path, rev: rev + 1000), "§3.6: DEL with rev > file rev deletes")
        XCTAssertEqual(try c.get(path).rev, 0, "§3.6")
    }

    // 12.4 #42
    func testDeleteUnconditionally() throws {
        let c = try connect()
        let path = "/" + unique("del")
        try c.mustSet(path, "x")
        assertExactly(try c.call(Request(tag: 42, verb: .del, path: path, rev: -1)), Response(tag: 42), "12.4 #42")
        XCTAssertEqual(try c.get(path).rev, 0, "12.4 #42")
    }

    // 12.4 #43
    func testDeleteMissingPathProducesDeleteEvent() throws {
        let c = try connect()
        for rev: Int64 in [0, -1] {
            let path = "/" + unique("gone")
            let before = try c.rev()
            assertExactly(try c.call(Request(tag: 43, verb: .del, path: path, rev: rev)), Response(tag: 43),
                          "12.4 #43 rev \(rev)")
            let event = try c.wait(path, rev: before + 1)
            XCTAssertEqual(event.flags, EventFlags.del, "12.4 #43 rev \(rev): \(event.brief)")
            XCTAssertEqual(event.path, path, "12.4 #43")
            XCTAssertEqual(event.value ?? [], [], "12.4 #43: empty value")
            XCTAssertGreaterThan(event.rev ?? 0, before, "12.4 #43")
        }
    }

    // 12.4 #44
    func testDeleteRevMinusTwo() throws {
        let c = try connect()
        let file = "/" + unique("d")
        try c.mustSet(file, "x")
        assertError(try c.del(file, rev: -2), .revMismatch, "12.4 #44 on a file")
        assertError(try c.del("/" + unique("d"), rev: -2), .revMismatch, "12.4 #44 on a missing path")
        assertError(try c.del(file, rev: -9), .revMismatch, "§3.6: rev ≤ -3")
        XCTAssertEqual(try c.get(file).text, "x", "12.4 #44")
    }

    // 12.4 #45
    func testDeleteDirectoryIsIsDir() throws {
        let c = try connect()
        let dir = "/" + unique("dir")
        try c.mustSet(dir + "/f", "x")
        for (path, rev) in [(dir, Int64(-1)), ("/ctl", -1), ("/", -1), ("/ctl", 0), (dir, 5)] {
            assertExactly(try c.call(Request(tag: 45, verb: .del, path: path, rev: rev)),
                          Response(tag: 45, errCode: .isDir), "12.4 #45 DEL \(path) rev \(rev)")
        }
        XCTAssertEqual(try c.get(dir + "/f").text, "x", "12.4 #45")
    }

    // 12.4 #46
    func testDeleteMissingArguments() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 46, verb: .del, path: "/x")),
                      Response(tag: 46, errCode: .missingArg), "12.4 #46 no rev")
        assertExactly(try c.call(Request(tag: 47, verb: .del, rev: -1)),
                      Response(tag: 47, errCode: .missingArg), "12.4 #46 no path")
    }

    // 12.4 #47
    func testEmptyDirectoriesDisappear() throws {
        let c = try connect()
        let root = "/" + unique("d1")
        let file = root + "/d2/f"
        let rev = try c.mustSet(file, "x")
        XCTAssertEqual(try c.stat(root).rev, -2, "12.4 #47 precondition")
        assertOK(try c.del(file, rev: rev), "12.4 #47")
        assertExactly(try c.call(Request(tag: 47, verb: .stat, path: root)),
                      Response(tag: 47, rev: 0, len: 0), "12.4 #47 STAT \(root)")
        XCTAssertEqual(try c.stat(root + "/d2").rev, 0, "12.4 #47 STAT d2")
        assertError(try c.getdir(root, offset: 0), .noEnt, "12.4 #47 GETDIR")
        XCTAssertFalse(try c.listDir("/").contains(String(root.dropFirst())), "12.4 #47: gone from /")
        XCTAssertEqual(try c.stat("/").rev, -2, "§3.2: the root always exists")
    }

    // 12.4 #48 (fixed, B6)
    func testDeleteBelowFileLeavesFile() throws {
        let c = try connect()
        let file = "/" + unique("file")
        let rev = try c.mustSet(file, "keep")
        let before = try c.rev()
        assertExactly(try c.call(Request(tag: 48, verb: .del, path: file + "/sub", rev: -1)), Response(tag: 48),
                      "12.4 #48: treated like a delete of a missing path")
        assertExactly(try c.call(Request(tag: 49, verb: .get, path: file)),
                      Response(tag: 49, rev: rev, value: bytes("keep")), "12.4 #48: /file intact")
        let event = try c.wait(file + "/sub", rev: before + 1)
        XCTAssertEqual(event.flags, EventFlags.del, "B6: delete event for the named path, \(event.brief)")
        XCTAssertEqual(event.path, file + "/sub", "B6")
        assertOK(try c.del(file + "/sub/deeper", rev: 0), "12.4 #48 (deeper)")
        XCTAssertEqual(try c.get(file).rev, rev, "12.4 #48 (deeper)")
    }
}

final class RevSelfNopTests: DoozerdTestCase {
    // 12.5 #49
    func testRevIsMonotonic() throws {
        let a = try connect()
        let b = try connect()
        var last: Int64 = 0
        for i in 0..<30 {
            let rev = try a.rev()
            XCTAssertGreaterThanOrEqual(rev, last, "12.5 #49")
            last = rev
            if i % 5 == 0 {
                let written = try b.mustSet("/" + unique("m"), "x")
                XCTAssertGreaterThan(written, last, "12.5 #49: a new write is above every REV seen before")
                let after = try a.rev()
                XCTAssertGreaterThanOrEqual(after, written, "12.5 #49: REV includes a completed write")
                last = after
            }
        }
    }

    // 12.5 #50
    func testSelfIsTheNodeID() throws {
        let c = try connect()
        let response = try c.call(Request(tag: 50, verb: .self))
        let id = try XCTUnwrap(response.text, "12.5 #50: \(response.brief)")
        assertExactly(response, Response(tag: 50, value: bytes(id)), "12.5 #50")
        XCTAssertEqual(id.count, 16, "12.5 #50: \(id)")
        XCTAssertTrue(id.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("2"..."7").contains($0) },
                      "12.5 #50: base32 alphabet: \(id)")
        XCTAssertEqual(try c.get("/ctl/cal/0").text, id, "12.5 #50: /ctl/cal/0")
        XCTAssertEqual(try c.listDir("/ctl/node"), [id], "12.5 #50: /ctl/node/<id>")
        XCTAssertEqual(try c.nodeID(), id, "12.5 #50: stable")
    }

    // 12.5 #51
    func testNopCommitsANoOp() throws {
        let c = try connect()
        let before = try c.rev()
        assertExactly(try c.call(Request(tag: 51, verb: .nop)), Response(tag: 51), "12.5 #51")
        let event = try c.wait("/", rev: before + 1)
        XCTAssertEqual(event.path, "/", "12.5 #51: \(event.brief)")
        XCTAssertEqual(event.flags, 0, "12.5 #51")
        XCTAssertEqual(event.value ?? [], [], "12.5 #51")
        XCTAssertGreaterThan(event.rev ?? 0, before, "12.5 #51")
        XCTAssertGreaterThanOrEqual(try c.rev(), event.rev ?? Int64.max, "12.5 #51")
    }
}
