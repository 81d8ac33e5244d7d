// §12.6 WAIT and the glob table of §3.8 (§12.11 #96).

import DoozerWire
import XCTest

final class WaitTests: DoozerdTestCase {
    // 12.6 #53
    func testMissingArguments() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 1, verb: .wait, rev: 1)),
                      Response(tag: 1, errCode: .missingArg), "12.6 #53 no path")
        assertExactly(try c.call(Request(tag: 2, verb: .wait, path: "/**")),
                      Response(tag: 2, errCode: .missingArg), "12.6 #53 no rev")
        assertExactly(try c.call(Request(tag: 3, verb: .wait)),
                      Response(tag: 3, errCode: .missingArg), "12.6 #53 nothing")
    }

    // 12.6 #54
    func testInvalidGlobs() throws {
        let c = try connect()
        for glob in ["/a/", "bad", "", "/x//y", "/a b", "/a:b", "/a+", "/a[b]", "/a^", "/a$", "/(a)", "/é", "//", "/_"] {
            assertExactly(try c.call(Request(tag: 54, verb: .wait, path: glob, rev: 1)),
                          Response(tag: 54, errCode: .other, errDetail: "invalid glob pattern: \(glob)"),
                          "12.6 #54 glob \(glob.debugDescription)")
        }
    }

    // 12.6 #58 (part): WAIT("/") skips everything but no-ops.
    func testWaitOnRootSeesOnlyNoOps() throws {
        let a = try connect()
        let b = try connect()
        let before = try a.rev()
        try a.send(Request(tag: 58, verb: .wait, path: "/", rev: before + 1))
        try b.mustSet("/" + unique("n"), "x")
        try b.mustSet("/" + unique("n"), "y")
        assertOK(try b.nop(), "12.6 #58 NOP")
        let event = try a.receive(tag: 58)
        XCTAssertEqual(event.path, "/", "12.6 #58: \(event.brief)")
        XCTAssertEqual(event.flags, 0, "12.6 #58")
        XCTAssertGreaterThan(event.rev ?? 0, before, "12.6 #58")
        XCTAssertEqual(try a.wait("/", rev: 7).rev, 7, "12.6 #58: first no-op at or after 7")
        XCTAssertEqual(try a.wait("/", rev: 56).rev, 56, "12.6 #58: last start-up no-op")
        let fromStart = try a.wait("/", rev: 1)
        XCTAssertEqual(fromStart.rev, 7, "12.6 #58: first no-op at or after 1 is 7, \(fromStart.brief)")
    }

    // 12.6 #59
    func testWaitForFutureWrite() throws {
        let a = try connect()
        let b = try connect()
        let path = "/" + unique("x")
        let current = try a.rev()
        try a.send(Request(tag: 59, verb: .wait, path: path, rev: current + 1))
        let answeredEarly = a.isReadable(within: 0)
        XCTAssertFalse(answeredEarly, "12.6 #59: nothing written to \(path) yet")
        try b.mustSet("/" + unique("other"), "noise")
        let rev = try b.mustSet(path, "payload")
        let event = try a.receive(tag: 59)
        assertExactly(event, Response(tag: 59, flags: EventFlags.set, rev: rev, path: path, value: bytes("payload")),
                      "12.6 #59")
    }

    // 12.6 #60
    func testWaitSeesDelete() throws {
        let c = try connect()
        let path = "/" + unique("x")
        let created = try c.mustSet(path, "x")
        assertOK(try c.del(path, rev: created), "12.6 #60 DEL")
        let event = try c.wait(path, rev: created + 1)
        XCTAssertEqual(event.flags, EventFlags.del, "12.6 #60: \(event.brief)")
        XCTAssertEqual(event.path, path, "12.6 #60")
        XCTAssertEqual(event.value ?? [], [], "12.6 #60")
        let deletedAt = try XCTUnwrap(event.rev)
        XCTAssertGreaterThan(deletedAt, created, "12.6 #60")
        let same = try c.wait(path, rev: deletedAt)
        XCTAssertEqual(same.rev, deletedAt, "12.6 #60: WAIT at r returns the delete at r")
        XCTAssertEqual(same.flags, EventFlags.del, "12.6 #60")
    }

    // 12.6 #61
    func testPastStartReturnsEarliestEvent() throws {
        let c = try connect()
        let path = "/" + unique("x")
        let before = try c.rev()
        let r1 = try c.mustSet(path, "v1")
        let r2 = try c.mustSet(path, "v2")
        let r3 = try c.mustSet(path, "v3")
        assertExactly(try c.call(Request(tag: 1, verb: .wait, path: path, rev: before)),
                      Response(tag: 1, flags: 4, rev: r1, path: path, value: bytes("v1")), "12.6 #61 from before")
        assertExactly(try c.call(Request(tag: 2, verb: .wait, path: path, rev: r1)),
                      Response(tag: 2, flags: 4, rev: r1, path: path, value: bytes("v1")), "12.6 #61 from r1")
        assertExactly(try c.call(Request(tag: 3, verb: .wait, path: path, rev: r1 + 1)),
                      Response(tag: 3, flags: 4, rev: r2, path: path, value: bytes("v2")), "12.6 #61 from r1+1")
        assertExactly(try c.call(Request(tag: 4, verb: .wait, path: path, rev: r3)),
                      Response(tag: 4, flags: 4, rev: r3, path: path, value: bytes("v3")), "12.6 #61 from r3")
    }

    // 12.6 #62
    func testExactlyOneResponsePerWait() throws {
        let a = try connect()
        let b = try connect()
        let path = "/" + unique("x")
        let current = try a.rev()
        try a.send(Request(tag: 62, verb: .wait, path: path, rev: current + 1))
        let r1 = try b.mustSet(path, "1")
        let r2 = try b.mustSet(path, "2")
        let r3 = try b.mustSet(path, "3")
        let event = try a.receive(tag: 62)
        XCTAssertEqual(event.rev, r1, "12.6 #62: \(event.brief)")
        // Later requests on the same connection, answered after r2 and r3 were applied.
        let later = try a.call(Request(tag: 63, verb: .wait, path: path, rev: r3))
        XCTAssertEqual(later.rev, r3, "12.6 #62")
        _ = try a.rev()
        XCTAssertGreaterThan(r2, r1)
        XCTAssertFalse(a.stash.contains { $0.tag == 62 }, "12.6 #62: a second response for tag 62: \(a.stash.map(\.brief))")
        XCTAssertTrue(a.stash.isEmpty, "12.6 #62: unexpected frames \(a.stash.map(\.brief))")
        XCTAssertFalse(a.isReadable(within: 0.2), "12.6 #62: no further frames")
    }

    // 12.6 #64
    func testPendingWaitOnCtlErr() throws {
        let a = try connect()
        let b = try connect()
        let path = "/" + unique("e")
        try b.mustSet(path, "x")
        let current = try a.rev()
        try a.send(Request(tag: 64, verb: .wait, path: "/ctl/err", rev: current + 1))
        assertError(try b.set(path, "y", rev: 0), .revMismatch, "12.6 #64")
        let event = try a.receive(tag: 64)
        XCTAssertEqual(event.path, "/ctl/err", "12.6 #64: \(event.brief)")
        XCTAssertEqual(event.flags, EventFlags.set, "12.6 #64")
        XCTAssertEqual(event.text, "rev mismatch", "12.6 #64")
    }

    // 12.6: WAIT with rev far in the future is accepted and fires later.
    func testFarFutureRevIsAccepted() throws {
        let a = try connect()
        let path = "/" + unique("far")
        try a.send(Request(tag: 65, verb: .wait, path: path, rev: 1 << 40))
        _ = try a.rev()
        XCTAssertTrue(a.stash.isEmpty, "§2.7 WAIT: far-future rev is pending, not an error: \(a.stash.map(\.brief))")
    }

    // A watcher pipelining WAITs at consecutive future revisions — more of them than the
    // store's ring of per-revision buckets spans, and more than a connection remembers before
    // compacting its list — gets each answered once, with the event of its own revision.
    func testPipelinedWaitsAtConsecutiveRevisions() throws {
        let a = try connect()
        let b = try connect()
        let count = 300
        let current = try a.rev()
        for k in 1...count {
            try a.send(Request(tag: Int32(100_000 + k), verb: .wait, path: "/**", rev: current + Int64(k)))
        }
        _ = try a.rev()
        let path = "/" + unique("pipelined")
        for i in 1...count { try b.mustSet(path, "\(i)") }
        for k in 1...count {
            let event = try a.receive(tag: Int32(100_000 + k))
            XCTAssertEqual(event.rev, current + Int64(k), "WAIT \(k) of \(count): \(event.brief)")
        }
        XCTAssertTrue(a.stash.isEmpty, "one answer per WAIT: \(a.stash.map(\.brief))")
    }

    // 12.11 #96: the glob table of §3.8, checked through WAIT.
    func testGlobTable() throws {
        let a = try connect()
        let b = try connect()
        let base = "/" + unique("g")
        // (pattern, writes that must not match — in order, each a SET or a DEL — , write that must match)
        struct Case {
            let pattern: String
            let nonMatching: [(path: String, delete: Bool)]
            let matching: String
        }
        func k(_ n: Int) -> String { "\(base)/c\(n)" }
        let cases: [Case] = [
            Case(pattern: k(1) + "/a/b", nonMatching: [(k(1) + "/a/c", false), (k(1) + "/a/bc", false)], matching: k(1) + "/a/b"),
            Case(pattern: k(2) + "/a?", nonMatching: [(k(2) + "/a", false), (k(2) + "/abc", false), (k(2) + "/b/x", false)],
                 matching: k(2) + "/ac"),
            Case(pattern: k(3) + "/a*", nonMatching: [(k(3) + "/ba", false), (k(3) + "/a/b", false)], matching: k(3) + "/abc"),
            Case(pattern: k(4) + "/a*", nonMatching: [(k(4) + "/ba", false)], matching: k(4) + "/a"),
            Case(pattern: k(5) + "/a**", nonMatching: [(k(5) + "/ba", false), (k(5) + "/b/a", false)], matching: k(5) + "/a/b/c"),
            Case(pattern: k(6) + "/a**", nonMatching: [(k(6) + "/ba", false)], matching: k(6) + "/ab"),
            Case(pattern: k(7) + "/*", nonMatching: [(k(7) + "/x/y", false)], matching: k(7) + "/z"),
            Case(pattern: k(8) + "/*/a", nonMatching: [(k(8) + "/a", false), (k(8) + "/x/y/a", false)], matching: k(8) + "/q/a"),
            Case(pattern: k(9) + "/a/**", nonMatching: [(k(9) + "/a", false), (k(9) + "/a", true), (k(9) + "/ab", false)],
                 matching: k(9) + "/a/x"),
            Case(pattern: k(10) + "/**/name", nonMatching: [(k(10) + "/name", false), (k(10) + "/x/namex", false)],
                 matching: k(10) + "/x/y/name"),
            Case(pattern: k(11) + "/**name", nonMatching: [(k(11) + "/namex", false), (k(11) + "/nam", false)],
                 matching: k(11) + "/name"),
            Case(pattern: k(12) + "/**name", nonMatching: [(k(12) + "/na", false)], matching: k(12) + "/d/xname"),
            Case(pattern: k(13) + "/a?c", nonMatching: [(k(13) + "/a/c", true), (k(13) + "/ac", false), (k(13) + "/abbc", false)],
                 matching: k(13) + "/a.c"),
            Case(pattern: k(14) + "/x.y", nonMatching: [(k(14) + "/xzy", false)], matching: k(14) + "/x.y"),
            Case(pattern: k(15) + "/***", nonMatching: [(k(15), true)], matching: k(15) + "/deep/er/path"),
        ]
        var tag: Int32 = 900
        for test in cases {
            tag += 1
            let current = try a.rev()
            try a.send(Request(tag: tag, verb: .wait, path: test.pattern, rev: current + 1))
            for write in test.nonMatching {
                if write.delete {
                    assertOK(try b.del(write.path, rev: -1), "12.11 #96 setup DEL \(write.path)")
                } else {
                    try b.mustSet(write.path, "n")
                }
            }
            let rev = try b.mustSet(test.matching, "m")
            let event = try a.receive(tag: tag)
            XCTAssertEqual(event.path, test.matching,
                           "12.11 #96: WAIT(\(test.pattern)) should skip \(test.nonMatching.map(\.path)) and fire for \(test.matching), got \(event.brief)")
            XCTAssertEqual(event.rev, rev, "12.11 #96 \(test.pattern)")
        }
    }

    // §3.8: `/**` matches no-ops (path /) and deletes too.
    func testDoubleStarMatchesEverything() throws {
        let c = try connect()
        let path = "/" + unique("all")
        let rev = try c.mustSet(path, "x")
        let event = try c.wait("/**", rev: rev)
        XCTAssertEqual(event.rev, rev, "§3.8 /**: \(event.brief)")
        XCTAssertEqual(event.path, path, "§3.8 /**")
        let before = try c.rev()
        assertOK(try c.nop(), "NOP")
        var r = before + 1
        var sawNoOp = false
        for _ in 0..<20 {
            let e = try c.wait("/**", rev: r)
            XCTAssertEqual(e.rev, r, "§3.8 /** returns every event")
            if e.path == "/" && e.flags == 0 { sawNoOp = true; break }
            r += 1
        }
        XCTAssertTrue(sawNoOp, "§3.8: /** matches the no-op of NOP")
    }
}
