// §12.3 SET.

import DoozerWire
import XCTest

final class SetTests: DoozerdTestCase {
    private var applied: String { "/ctl/node/\(nodeID)/applied" }

    // 12.3 #24 and #25
    func testCreateWithRevZero() throws {
        let c = try connect()
        let path = "/" + unique("a")
        let created = try c.call(Request(tag: 24, verb: .set, path: path, value: bytes("body"), rev: 0))
        let rev = try XCTUnwrap(created.rev, "12.3 #24: \(created.brief)")
        assertExactly(created, Response(tag: 24, rev: rev), "12.3 #24")
        assertExactly(try c.call(Request(tag: 2, verb: .get, path: path)),
                      Response(tag: 2, rev: rev, value: bytes("body")), "12.3 #24 GET")
        let again = try c.call(Request(tag: 25, verb: .set, path: path, value: bytes("other"), rev: 0))
        assertExactly(again, Response(tag: 25, errCode: .revMismatch), "12.3 #25")
        XCTAssertEqual(try c.get(path).text, "body", "12.3 #25: unchanged")
    }

    // 12.3 #26
    func testRevConditions() throws {
        let c = try connect()
        let path = "/" + unique("cond")
        let r = try c.mustSet(path, "v1")
        assertError(try c.set(path, "x", rev: r - 1), .revMismatch, "12.3 #26 rev = file rev - 1")
        XCTAssertEqual(try c.get(path).rev, r, "12.3 #26: failed SET leaves the file")
        let r2 = try XCTUnwrap(try c.set(path, "v2", rev: r).rev, "12.3 #26 rev = file rev")
        XCTAssertGreaterThan(r2, r, "12.3 #26")
        let r3response = try c.set(path, "v3", rev: r2 + 1000)
        assertOK(r3response, "12.3 #26 rev = file rev + 1000")
        let r3 = try XCTUnwrap(r3response.rev)
        let get = try c.get(path)
        XCTAssertEqual(get.rev, r3, "12.3 #26")
        XCTAssertEqual(get.text, "v3", "12.3 #26")
        // Any rev ≥ 0 creates a missing file.
        assertOK(try c.set("/" + unique("cond"), "x", rev: 12345), "12.3 #26/§3.6: r ≥ 1 creates a missing file")
    }

    // 12.3 #27
    func testClobber() throws {
        let c = try connect()
        let path = "/" + unique("clob")
        let r1 = try XCTUnwrap(try c.set(path, "1", rev: -1).rev, "12.3 #27 missing")
        let r2 = try XCTUnwrap(try c.set(path, "2", rev: -1).rev, "12.3 #27 file")
        let r3 = try XCTUnwrap(try c.set(path, "3", rev: -1).rev, "12.3 #27 file again")
        XCTAssertLessThan(r1, r2, "12.3 #27")
        XCTAssertLessThan(r2, r3, "12.3 #27")
        XCTAssertEqual(try c.get(path).text, "3", "12.3 #27")
    }

    // 12.3 #28
    func testRevMinusTwoAndBelow() throws {
        let c = try connect()
        let file = "/" + unique("m2")
        let missing = "/" + unique("m2")
        let r = try c.mustSet(file, "x")
        for rev: Int64 in [-2, -3, -100, Int64.min] {
            assertExactly(try c.call(Request(tag: 28, verb: .set, path: file, value: bytes("y"), rev: rev)),
                          Response(tag: 28, errCode: .revMismatch), "12.3 #28 rev \(rev) on a file")
            assertExactly(try c.call(Request(tag: 28, verb: .set, path: missing, value: bytes("y"), rev: rev)),
                          Response(tag: 28, errCode: .revMismatch), "12.3 #28 rev \(rev) on a missing path")
        }
        XCTAssertEqual(try c.get(file).rev, r, "12.3 #28")
        XCTAssertEqual(try c.get(missing).rev, 0, "12.3 #28")
    }

    // 12.3 #29
    func testSetBelowFileIsNotDir() throws {
        let c = try connect()
        let file = "/" + unique("f")
        try c.mustSet(file, "x")
        assertExactly(try c.call(Request(tag: 29, verb: .set, path: file + "/b", value: bytes("y"), rev: -1)),
                      Response(tag: 29, errCode: .notDir), "12.3 #29")
        assertError(try c.set(file + "/b/c", "y", rev: 0), .notDir, "12.3 #29 (deeper)")
        XCTAssertEqual(try c.get(file).text, "x", "12.3 #29")
    }

    // 12.3 #30
    func testSetDirectoryIsIsDir() throws {
        let c = try connect()
        for path in ["/ctl", "/", "/ctl/node"] {
            for rev: Int64 in [-1, 0, 99999] {
                assertExactly(try c.call(Request(tag: 30, verb: .set, path: path, value: bytes("x"), rev: rev)),
                              Response(tag: 30, errCode: .isDir), "12.3 #30 SET \(path) rev \(rev)")
            }
        }
        // §3.5: the rev check comes first: -3:/ctl is a rev mismatch.
        assertError(try c.set("/ctl", "x", rev: -3), .revMismatch, "§3.5/§3.6: SET /ctl rev -3")
    }

    // 12.3 #31
    func testBadPathsConsumeNoRevision() throws {
        let c = try connect()
        let before = try c.rev()
        for path in ["/bad path", "/x/", "", "x", "/a//b", "/x_y", "/x=", "/a:b", "/é", "//"] {
            assertExactly(try c.call(Request(tag: 31, verb: .set, path: path, value: bytes("v"), rev: -1)),
                          Response(tag: 31, errCode: .badPath), "12.3 #31 SET \(path.debugDescription)")
            assertExactly(try c.call(Request(tag: 32, verb: .del, path: path, rev: -1)),
                          Response(tag: 32, errCode: .badPath), "§2.7 DEL \(path.debugDescription)")
        }
        let marker = "/" + unique("marker")
        let markerRev = try c.mustSet(marker, "m")
        for rev in (before + 1)...markerRev {
            let event = try c.wait("/**", rev: rev)
            XCTAssertEqual(event.rev, rev, "12.3 #31/#90: event at \(rev)")
            XCTAssertTrue(event.path == marker || event.path == applied,
                          "12.3 #31: only pulses and the marker between \(before) and \(markerRev), got \(event.brief)")
        }
    }

    // 12.3 #32
    func testMissingArguments() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 1, verb: .set, value: bytes("v"), rev: -1)),
                      Response(tag: 1, errCode: .missingArg), "12.3 #32 no path")
        assertExactly(try c.call(Request(tag: 2, verb: .set, path: "/" + unique("ma"), value: bytes("v"))),
                      Response(tag: 2, errCode: .missingArg), "12.3 #32 no rev")
        assertExactly(try c.call(Request(tag: 3, verb: .set)),
                      Response(tag: 3, errCode: .missingArg), "12.3 #32 nothing")
        // §2.9: MISSING_ARG precedes BAD_PATH.
        assertError(try c.call(Request(tag: 4, verb: .set, path: "bad path", value: bytes("v"))), .missingArg,
                    "§2.9 order: MISSING_ARG before BAD_PATH")
    }

    // 12.3 #33
    func testSetWithoutValueCreatesEmptyFile() throws {
        let c = try connect()
        let path = "/" + unique("empty")
        let rev = try XCTUnwrap(try c.set(path, nil as [UInt8]?, rev: 0).rev, "12.3 #33")
        assertExactly(try c.call(Request(tag: 33, verb: .get, path: path)),
                      Response(tag: 33, rev: rev, value: []), "12.3 #33 GET")
        assertExactly(try c.call(Request(tag: 34, verb: .stat, path: path)),
                      Response(tag: 34, rev: rev, len: 0), "12.3 #33 STAT")
    }

    // 12.3 #34 and 12.6 #64
    func testRevMismatchWritesCtlErr() throws {
        let c = try connect()
        let path = "/" + unique("rm")
        try c.mustSet(path, "x")
        let before = try c.rev()
        assertError(try c.set(path, "y", rev: 0), .revMismatch, "12.3 #34")
        let event = try c.wait("/ctl/err", rev: before + 1)
        XCTAssertEqual(event.path, "/ctl/err", "12.3 #34: \(event.brief)")
        XCTAssertEqual(event.text, "rev mismatch", "12.3 #34")
        XCTAssertEqual(event.flags, EventFlags.set, "12.3 #34")
        XCTAssertGreaterThan(event.rev ?? 0, before, "12.3 #34")
        let get = try c.get("/ctl/err")
        XCTAssertEqual(get.text, "rev mismatch", "12.3 #34: /ctl/err body")
        XCTAssertEqual(get.rev, event.rev, "12.3 #34: /ctl/err rev = the failure's seqn")
    }

    // 12.3 #35
    func testNotDirAndIsDirTexts() throws {
        let c = try connect()
        let file = "/" + unique("nd")
        try c.mustSet(file, "x")
        let before = try c.rev()
        assertError(try c.set(file + "/sub", "y", rev: -1), .notDir, "12.3 #35")
        let first = try c.wait("/ctl/err", rev: before + 1)
        XCTAssertEqual(first.text, "not a directory", "12.3 #35: \(first.brief)")
        XCTAssertEqual(first.flags, EventFlags.set, "12.3 #35")
        let firstRev = try XCTUnwrap(first.rev)
        assertError(try c.set("/ctl", "y", rev: -1), .isDir, "12.3 #35")
        let second = try c.wait("/ctl/err", rev: firstRev + 1)
        XCTAssertEqual(second.text, "is a directory", "12.3 #35: \(second.brief)")
        XCTAssertEqual(second.path, "/ctl/err", "12.3 #35")
    }

    // 12.3 #36
    func testSetCreatesDirectories() throws {
        let c = try connect()
        let root = "/" + unique("d1")
        try c.mustSet(root + "/d2/f", "x")
        let r = try c.call(Request(tag: 36, verb: .stat, path: root))
        assertExactly(r, Response(tag: 36, rev: -2, len: 1), "12.3 #36 STAT \(root)")
        assertExactly(try c.call(Request(tag: 37, verb: .stat, path: root + "/d2")),
                      Response(tag: 37, rev: -2, len: 1), "12.3 #36 STAT d2")
        XCTAssertEqual(try c.listDir(root), ["d2"], "12.3 #36")
    }

    // 12.3 #37
    func testSetRevMatchesWaitAndGet() throws {
        let c = try connect()
        let path = "/" + unique("r37")
        let before = try c.rev()
        let rev = try c.mustSet(path, "hello")
        let event = try c.call(Request(tag: 37, verb: .wait, path: path, rev: before + 1))
        assertExactly(event, Response(tag: 37, flags: EventFlags.set, rev: rev, path: path, value: bytes("hello")),
                      "12.3 #37 WAIT")
        XCTAssertEqual(try c.get(path).rev, rev, "12.3 #37 GET")
    }

    // 12.3 #38
    func testValuesOf2900BytesCommit() throws {
        let c = try connect()
        let path = "/" + unique("big")
        let body = (0..<2900).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        let rev = try c.mustSet(path, body)
        assertExactly(try c.call(Request(tag: 38, verb: .get, path: path)),
                      Response(tag: 38, rev: rev, value: body), "12.3 #38")
        XCTAssertGreaterThan(try c.mustSet(path + "x", "after"), rev, "12.3 #38: later writes commit")
    }

    // 12.3 #39 (fixed, B3): the supported size is the server's choice; an oversized write must be
    // answered (success or error), never hang, and later writes must keep committing.
    func testOversizedWriteIsAnsweredAndClusterContinues() throws {
        let c = try connect(timeout: 30)
        for size in [1 << 20, 4 << 20, (16 << 20) - 256] {
            let path = "/" + unique("huge")
            let before = try c.rev()
            let body = [UInt8](repeating: 0x61, count: size)
            let response = try c.call(Request(tag: 39, verb: .set, path: path, value: body, rev: -1))
            if response.errCode == nil {
                let rev = try XCTUnwrap(response.rev, "12.3 #39 (\(size) bytes): \(response.brief)")
                assertExactly(try c.call(Request(tag: 40, verb: .stat, path: path)),
                              Response(tag: 40, rev: rev, len: Int32(size)), "12.3 #39 (\(size) bytes accepted)")
            } else {
                XCTAssertNil(response.rev, "12.3 #39: error response \(response.brief)")
                XCTAssertEqual(try c.get(path).rev, 0, "12.3 #39: rejected write not applied")
            }
            let after = try c.mustSet("/" + unique("after"), "small")
            XCTAssertGreaterThan(after, before, "12.3 #39 (\(size) bytes): later writes commit")
        }
    }
}
