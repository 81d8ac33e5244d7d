// §12.7 WALK, §12.8 GETDIR, §12.9 STAT.

import DoozerWire
import XCTest

final class WalkTests: DoozerdTestCase {
    // 12.7 #65
    func testMissingOffsetAndNegativeOffset() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 1, verb: .walk, path: "/**")),
                      Response(tag: 1, errCode: .missingArg), "12.7 #65 no offset")
        assertExactly(try c.call(Request(tag: 2, verb: .walk, offset: 0)),
                      Response(tag: 2, errCode: .missingArg), "12.7 #65/§2.10 no path")
        assertExactly(try c.call(Request(tag: 3, verb: .walk, path: "/**", offset: -1)),
                      Response(tag: 3, errCode: .range), "12.7 #65 offset -1")
        assertExactly(try c.call(Request(tag: 4, verb: .walk, path: "/**", offset: Int32.min)),
                      Response(tag: 4, errCode: .range), "12.7 #65 offset min")
    }

    // 12.7 #66
    func testWalkNodeFiles() throws {
        let c = try connect()
        let node = "/ctl/node/\(nodeID)"
        // The first pulse must exist for `applied` to be listed.
        let pulse = try c.wait(node + "/applied", rev: 1)
        XCTAssertNotNil(pulse.rev, "12.7 #66 precondition: first pulse \(pulse.brief)")
        let rev = try c.rev()
        let names = ["addr", "applied", "hostname", "version", "writable"]
        for (offset, name) in names.enumerated() {
            let response = try c.call(Request(tag: 66, verb: .walk, path: "/ctl/node/**", offset: Int32(offset), rev: rev))
            let get = try c.get(node + "/" + name, rev: rev)
            assertExactly(response, Response(tag: 66, flags: EventFlags.set, rev: get.rev, path: node + "/" + name, value: get.value),
                          "12.7 #66 offset \(offset)")
            XCTAssertGreaterThan(get.rev ?? 0, 0, "12.7 #66: \(name) exists")
        }
        assertExactly(try c.call(Request(tag: 67, verb: .walk, path: "/ctl/node/**", offset: 5, rev: rev)),
                      Response(tag: 67, errCode: .range), "12.7 #66 offset 5")
    }

    // 12.7 #67
    func testDirectoriesNeverMatch() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 67, verb: .walk, path: "/ctl", offset: 0)),
                      Response(tag: 67, errCode: .range), "12.7 #67")
        assertError(try c.walk("/", offset: 0), .range, "12.7 #67 (/)")
        // At rev 56 /ctl holds the file `name` and the directories cal, node, ns.
        let only = try c.walk("/ctl/*", offset: 0, rev: 56)
        XCTAssertEqual(only.path, "/ctl/name", "12.7 #67: /ctl/* lists files only, \(only.brief)")
        assertError(try c.walk("/ctl/*", offset: 1, rev: 56), .range, "12.7 #67: directories never match")
    }

    // 12.7 #68
    func testWalkAtRevTwo() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 68, verb: .walk, path: "/**", offset: 0, rev: 2)),
                      Response(tag: 68, flags: 4, rev: 1, path: "/ctl/name", value: bytes("local")), "12.7 #68 offset 0")
        let second = try c.walk("/**", offset: 1, rev: 2)
        XCTAssertEqual(second.path, "/ctl/node/\(nodeID)/addr", "12.7 #68 offset 1: \(second.brief)")
        XCTAssertEqual(second.rev, 2, "12.7 #68 offset 1")
        XCTAssertEqual(second.text, server.address, "12.7 #68 offset 1")
        assertExactly(try c.call(Request(tag: 69, verb: .walk, path: "/**", offset: 2, rev: 2)),
                      Response(tag: 69, errCode: .range), "12.7 #68 offset 2")
        // §2.6: rev < 1 reads as of revision 1.
        assertExactly(try c.call(Request(tag: 70, verb: .walk, path: "/**", offset: 0, rev: 0)),
                      Response(tag: 70, flags: 4, rev: 1, path: "/ctl/name", value: bytes("local")), "§2.6 WALK rev 0")
        assertError(try c.walk("/**", offset: 1, rev: -3), .range, "§2.6 WALK rev -3 = rev 1")
    }

    // 12.7 #69
    func testDoubleStarNameGlobs() throws {
        let c = try connect()
        for glob in ["/**/name", "/**name"] {
            let response = try c.walk(glob, offset: 0)
            XCTAssertEqual(response.path, "/ctl/name", "12.7 #69 \(glob): \(response.brief)")
            XCTAssertEqual(response.text, "local", "12.7 #69 \(glob)")
            XCTAssertEqual(response.flags, EventFlags.set, "12.7 #69 \(glob)")
            XCTAssertEqual(response.rev, 1, "12.7 #69 \(glob)")
        }
    }

    // 12.7 #70
    func testInvalidGlob() throws {
        let c = try connect()
        for glob in ["/a/", "bad", "", "/a b", "/x//y"] {
            assertExactly(try c.call(Request(tag: 70, verb: .walk, path: glob, offset: 0)),
                          Response(tag: 70, errCode: .other, errDetail: "invalid glob pattern: \(glob)"),
                          "12.7 #70 \(glob.debugDescription)")
        }
    }

    // §2.7 WALK / §3.9: files only, depth-first, bytewise-sorted at every level.
    func testWalkOrderIsDepthFirstBytewise() throws {
        let c = try connect()
        let base = "/" + unique("w")
        var revs: [String: Int64] = [:]
        for name in ["b", "a/y", "B", "-", "a/x", "a.b", "0/z", "aa"] {
            revs[name] = try c.mustSet(base + "/" + name, "body-" + name)
        }
        let found = try c.walkAll(base + "/**")
        // Tree order, not full-path order: directory `a` sorts before `a.b`, so a/x comes first.
        let expected = ["-", "0/z", "B", "a/x", "a/y", "a.b", "aa", "b"]
        XCTAssertEqual(found.map { $0.path ?? "?" }, expected.map { base + "/" + $0 }, "§3.9 WALK order")
        for (response, name) in zip(found, expected) {
            XCTAssertEqual(response.rev, revs[name], "§2.7 WALK rev of \(name)")
            XCTAssertEqual(response.text, "body-" + name, "§2.7 WALK value of \(name)")
            XCTAssertEqual(response.flags, EventFlags.set, "§2.7 WALK flags")
        }
        XCTAssertEqual(try c.walkAll(base + "/a/*").compactMap(\.path), [base + "/a/x", base + "/a/y"], "§3.8 /a/*")
        XCTAssertEqual(try c.walkAll(base + "/?").compactMap(\.path), [base + "/-", base + "/B", base + "/b"], "§3.8 /?")
    }
}

final class GetdirTests: DoozerdTestCase {
    // 12.8 #72 (second half: after a failed write, `err` appears)
    func testCtlListingAfterFailedWrite() throws {
        let c = try connect()
        let path = "/" + unique("f")
        try c.mustSet(path, "x")
        assertError(try c.set(path, "y", rev: 0), .revMismatch, "12.8 #72 setup")
        XCTAssertEqual(try c.listDir("/ctl"), ["cal", "err", "name", "node", "ns"], "12.8 #72")
        XCTAssertEqual(try c.listDir("/ctl", rev: 57), ["cal", "name", "node", "ns"], "12.8 #72 at rev 57")
    }

    // 12.8 #73
    func testResponsesCarryOnlyTagAndName() throws {
        let c = try connect()
        for (offset, name) in ["cal", "name", "node"].enumerated() {
            assertExactly(try c.call(Request(tag: 73, verb: .getdir, path: "/ctl", offset: Int32(offset), rev: 57)),
                          Response(tag: 73, path: name), "12.8 #73 offset \(offset)")
        }
        assertExactly(try c.call(Request(tag: 74, verb: .getdir, path: "/ctl/node", offset: 0)),
                      Response(tag: 74, path: nodeID), "12.8 #73 /ctl/node")
    }

    // 12.8 #74
    func testErrors() throws {
        let c = try connect()
        let dir = "/" + unique("d")
        try c.mustSet(dir + "/one", "1")
        try c.mustSet(dir + "/two", "2")
        assertExactly(try c.call(Request(tag: 1, verb: .getdir, path: dir + "/one", offset: 0)),
                      Response(tag: 1, errCode: .notDir), "12.8 #74 file")
        assertExactly(try c.call(Request(tag: 2, verb: .getdir, path: dir + "/none", offset: 0)),
                      Response(tag: 2, errCode: .noEnt), "12.8 #74 missing")
        assertExactly(try c.call(Request(tag: 3, verb: .getdir, path: dir, offset: -1)),
                      Response(tag: 3, errCode: .range), "12.8 #74 offset -1")
        assertExactly(try c.call(Request(tag: 4, verb: .getdir, path: dir, offset: 2)),
                      Response(tag: 4, errCode: .range), "12.8 #74 offset = count")
        assertExactly(try c.call(Request(tag: 5, verb: .getdir, path: dir, offset: 1)),
                      Response(tag: 5, path: "two"), "12.8 #74 offset = count - 1")
        // §2.7: the missing/file checks come before the offset check.
        assertError(try c.getdir(dir + "/none", offset: -1), .noEnt, "§2.7 GETDIR check order (missing)")
        assertError(try c.getdir(dir + "/one", offset: 99), .notDir, "§2.7 GETDIR check order (file)")
    }

    // 12.8 #75
    func testMissingArguments() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 1, verb: .getdir, offset: 0)),
                      Response(tag: 1, errCode: .missingArg), "12.8 #75 no path")
        assertExactly(try c.call(Request(tag: 2, verb: .getdir, path: "/ctl")),
                      Response(tag: 2, errCode: .missingArg), "12.8 #75 no offset")
    }

    // 12.8 #76
    func testListingAtRevOne() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 1, verb: .getdir, path: "/ctl", offset: 0, rev: 1)),
                      Response(tag: 1, path: "name"), "12.8 #76 /ctl")
        assertExactly(try c.call(Request(tag: 2, verb: .getdir, path: "/", offset: 0, rev: 1)),
                      Response(tag: 2, path: "ctl"), "12.8 #76 /")
        assertError(try c.getdir("/ctl", offset: 1, rev: 1), .range, "12.8 #76: only `name` at rev 1")
        assertExactly(try c.call(Request(tag: 3, verb: .getdir, path: "/ctl", offset: 0, rev: 0)),
                      Response(tag: 3, path: "name"), "§2.6 GETDIR rev 0 = rev 1")
        assertError(try c.getdir("/ctl", offset: 1, rev: -5), .range, "§2.6 GETDIR rev -5 = rev 1")
        assertError(try c.getdir("/ctl/cal", offset: 0, rev: 4), .noEnt, "§2.7: /ctl/cal missing at rev 4")
    }

    // 12.8 #77
    func testBytewiseOrder() throws {
        let c = try connect()
        let dir = "/" + unique("s")
        for name in ["b", "B", "a", "-"] { try c.mustSet(dir + "/" + name, name) }
        XCTAssertEqual(try c.listDir(dir), ["-", "B", "a", "b"], "12.8 #77")
        try c.mustSet(dir + "/0", "0")
        try c.mustSet(dir + "/.", ".")
        try c.mustSet(dir + "/Z/x", "z")
        XCTAssertEqual(try c.listDir(dir), ["-", ".", "0", "B", "Z", "a", "b"], "12.8 #77 / §3.9")
    }

    // 12.8 #78 (fixed, B2)
    func testInvalidPathsAreBadPath() throws {
        let c = try connect()
        for path in ["", "/ctl/", "ctl", "/a//b", "xctl", "/x y", "/ctl_x"] {
            assertExactly(try c.call(Request(tag: 78, verb: .getdir, path: path, offset: 0)),
                          Response(tag: 78, errCode: .badPath), "12.8 #78 GETDIR \(path.debugDescription)")
        }
        let other = try connect()
        XCTAssertEqual(try other.listDir("/ctl", rev: 57), ["cal", "name", "node", "ns"], "12.8 #78: server stays up")
    }
}

final class StatTests: DoozerdTestCase {
    // 12.9 #79
    func testStatFile() throws {
        let c = try connect()
        let path = "/" + unique("f")
        let rev = try c.mustSet(path, "hello")
        assertExactly(try c.call(Request(tag: 79, verb: .stat, path: path)),
                      Response(tag: 79, rev: rev, len: 5), "12.9 #79")
        let rev2 = try c.mustSet(path, [UInt8](repeating: 0, count: 1000))
        assertExactly(try c.call(Request(tag: 80, verb: .stat, path: path)),
                      Response(tag: 80, rev: rev2, len: 1000), "12.9 #79 (1000 bytes)")
    }

    // 12.9 #80
    func testStatDirectory() throws {
        let c = try connect()
        let rev = try c.rev()
        let count = try c.listDir("/ctl", rev: rev).count
        assertExactly(try c.call(Request(tag: 80, verb: .stat, path: "/ctl", rev: rev)),
                      Response(tag: 80, rev: -2, len: Int32(count)), "12.9 #80 /ctl")
        let rootCount = try c.listDir("/", rev: rev).count
        assertExactly(try c.call(Request(tag: 81, verb: .stat, path: "/", rev: rev)),
                      Response(tag: 81, rev: -2, len: Int32(rootCount)), "12.9 #80 /")
        assertExactly(try c.call(Request(tag: 82, verb: .stat, path: "/ctl", rev: 1)),
                      Response(tag: 82, rev: -2, len: 1), "12.9 #80 /ctl at rev 1")
    }

    // 12.9 #81 (B2: STAT keeps invalid = missing)
    func testMissingInvalidAndAbsentPaths() throws {
        let c = try connect()
        let paths: [String?] = ["/" + unique("missing"), "bad", nil, "", "/ctl/", "/a//b", "ctl/name", "/x y"]
        for path in paths {
            assertExactly(try c.call(Request(tag: 81, verb: .stat, path: path)),
                          Response(tag: 81, rev: 0, len: 0), "12.9 #81 STAT \(path.debugDescription)")
        }
    }

    // 12.9 #82
    func testStatAtOldRev() throws {
        let c = try connect()
        let path = "/" + unique("f")
        let r1 = try c.mustSet(path, "abc")
        let r2 = try c.mustSet(path, "abcdef")
        assertExactly(try c.call(Request(tag: 1, verb: .stat, path: path, rev: r1)),
                      Response(tag: 1, rev: r1, len: 3), "12.9 #82 at r1")
        assertExactly(try c.call(Request(tag: 2, verb: .stat, path: path, rev: r2 - 1)),
                      Response(tag: 2, rev: r1, len: 3), "12.9 #82 at r2-1")
        assertExactly(try c.call(Request(tag: 3, verb: .stat, path: path, rev: r1 - 1)),
                      Response(tag: 3, rev: 0, len: 0), "12.9 #82 before creation")
        assertExactly(try c.call(Request(tag: 4, verb: .stat, path: path, rev: r2)),
                      Response(tag: 4, rev: r2, len: 6), "12.9 #82 at r2")
        assertExactly(try c.call(Request(tag: 5, verb: .stat, path: "/ctl/cal/0", rev: 0)),
                      Response(tag: 5, rev: 0, len: 0), "12.9 #82 / §2.6: rev 0 means 1")
    }
}
