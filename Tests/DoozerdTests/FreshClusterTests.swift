// Checks on a fresh single-node cluster. Tests in this class never write, so the server stays
// "fresh" (no /ctl/err, only pulses after the start-up layout). §12.6 #55–#58, §12.8 #72,
// §12.11 #90–#93.

import DoozerWire
import XCTest

final class FreshClusterTests: DoozerdTestCase {
    private var node: String { "/ctl/node/\(nodeID)" }

    // 12.6 #55
    func testFirstEvent() throws {
        let c = try connect()
        assertExactly(try c.call(Request(tag: 55, verb: .wait, path: "/**", rev: 1)),
                      Response(tag: 55, flags: EventFlags.set, rev: 1, path: "/ctl/name", value: bytes("local")),
                      "12.6 #55")
    }

    // 12.6 #56
    func testRevBelowOneMeansOne() throws {
        let c = try connect()
        for rev: Int64 in [0, -7, -1, Int64.min] {
            assertExactly(try c.call(Request(tag: 56, verb: .wait, path: "/**", rev: rev)),
                          Response(tag: 56, flags: EventFlags.set, rev: 1, path: "/ctl/name", value: bytes("local")),
                          "12.6 #56 rev \(rev)")
        }
    }

    // 12.6 #57
    func testNoOpAtSeven() throws {
        let c = try connect()
        let event = try c.call(Request(tag: 57, verb: .wait, path: "/**", rev: 7))
        XCTAssertEqual(event.tag, 57, "12.6 #57")
        XCTAssertEqual(event.path, "/", "12.6 #57: \(event.brief)")
        XCTAssertEqual(event.rev, 7, "12.6 #57")
        XCTAssertEqual(event.flags, 0, "12.6 #57")
        XCTAssertEqual(event.value ?? [], [], "12.6 #57")
        XCTAssertNil(event.errCode, "12.6 #57")
    }

    // 12.6 #58
    func testWaitOnRootFindsNoOps() throws {
        let c = try connect()
        for (start, expected) in [(Int64(1), Int64(7)), (7, 7), (30, 30), (56, 56)] {
            let event = try c.wait("/", rev: start)
            XCTAssertEqual(event.rev, expected, "12.6 #58 WAIT(/, \(start)): \(event.brief)")
            XCTAssertEqual(event.path, "/", "12.6 #58")
            XCTAssertEqual(event.flags, 0, "12.6 #58")
        }
    }

    // 12.8 #72 (first half)
    func testCtlListingOnFreshCluster() throws {
        let c = try connect()
        let rev = try c.rev()
        for (offset, name) in ["cal", "name", "node", "ns"].enumerated() {
            assertExactly(try c.call(Request(tag: 72, verb: .getdir, path: "/ctl", offset: Int32(offset))),
                          Response(tag: 72, path: name), "12.8 #72 offset \(offset)")
        }
        assertExactly(try c.call(Request(tag: 73, verb: .getdir, path: "/ctl", offset: 4)),
                      Response(tag: 73, errCode: .range), "12.8 #72 offset 4")
        XCTAssertEqual(try c.listDir("/ctl", rev: rev), ["cal", "name", "node", "ns"], "12.8 #72 (pinned rev)")
        XCTAssertEqual(try c.listDir("/"), ["ctl"], "§3.12: only /ctl on a fresh cluster")
        XCTAssertEqual(try c.get("/ctl/err").rev, 0, "12.8 #72: no /ctl/err yet")
    }

    // 12.11 #90
    func testEveryRevisionHasExactlyOneEvent() throws {
        let c = try connect(timeout: 10)
        let current = try c.rev()
        // Pipelined: all WAITs first, then the answers (in any order).
        var batch: [UInt8] = []
        for rev in 1...current {
            batch += Framing.frame(Request(tag: Int32(rev), verb: .wait, path: "/**", rev: rev).encoded())
        }
        try c.sendRaw(batch)
        var seen: [Int64: Response] = [:]
        for _ in 1...current {
            let event = try c.receive()
            let tag = Int64(try XCTUnwrap(event.tag, "12.11 #90: untagged \(event.brief)"))
            XCTAssertNil(seen[tag], "12.11 #90: two answers for \(tag)")
            seen[tag] = event
        }
        for rev in 1...current {
            let event = try XCTUnwrap(seen[rev], "12.11 #90: no answer for rev \(rev)")
            XCTAssertEqual(event.rev, rev, "12.11 #90: WAIT(/**, \(rev)) must return the event at \(rev): \(event.brief)")
            XCTAssertNil(event.errCode, "12.11 #90 rev \(rev)")
        }
    }

    // 12.11 #91
    func testStartUpLayout() throws {
        let c = try connect()
        let id = nodeID
        let addr = server.address
        let expected: [(String, String)] = [
            ("/ctl/name", "local"),
            ("\(node)/addr", addr),
            ("\(node)/hostname", ""),
            ("\(node)/version", ""),
            ("/ctl/cal/0", id),
            ("/ctl/ns/local/\(id)", addr),
        ]
        for (index, (path, body)) in expected.enumerated() {
            let rev = Int64(index + 1)
            let event = try c.wait("/**", rev: rev)
            XCTAssertEqual(event.rev, rev, "12.11 #91 seqn \(rev): \(event.brief)")
            XCTAssertEqual(event.path, path, "12.11 #91 seqn \(rev)")
            XCTAssertEqual(event.flags, EventFlags.set, "12.11 #91 seqn \(rev)")
            if !body.isEmpty { XCTAssertEqual(event.text, body, "12.11 #91 seqn \(rev)") }
        }
        let hostname = try c.get("\(node)/hostname")
        XCTAssertEqual(hostname.rev, 3, "12.11 #91 hostname")
        XCTAssertFalse((hostname.value ?? []).isEmpty, "12.11 #91: hostname is the host name or `unknown`")
        for rev in Int64(7)...56 {
            let event = try c.wait("/**", rev: rev)
            XCTAssertEqual(event.rev, rev, "12.11 #91 no-op \(rev): \(event.brief)")
            XCTAssertEqual(event.path, "/", "12.11 #91 no-op \(rev)")
            XCTAssertEqual(event.flags, 0, "12.11 #91 no-op \(rev)")
        }
        let writable = try c.wait("\(node)/writable", rev: 1)
        XCTAssertGreaterThanOrEqual(writable.rev ?? 0, 57, "12.11 #91 writable: \(writable.brief)")
        XCTAssertEqual(writable.text, "true", "12.11 #91 writable")
        XCTAssertEqual(writable.flags, EventFlags.set, "12.11 #91 writable")
        let first = try c.wait("/**", rev: 57)
        XCTAssertEqual(first.rev, 57, "12.11 #91: 57 is consensus-decided, \(first.brief)")
        XCTAssertTrue(first.path == "\(node)/writable" || first.path == "\(node)/applied",
                      "12.11 #91: rev 57 is the first pulse or writable, \(first.brief)")
    }

    // 12.11 #92 with the default -pulse (1 s)
    func testAppliedIsRewrittenEverySecond() throws {
        let c = try connect()
        let applied = "\(node)/applied"
        let current = try c.rev()
        let e1 = try c.wait(applied, rev: current + 1)
        let t1 = now()
        let r1 = try XCTUnwrap(e1.rev, "12.11 #92: \(e1.brief)")
        let e2 = try c.wait(applied, rev: r1 + 1)
        let t2 = now()
        let r2 = try XCTUnwrap(e2.rev, "12.11 #92: \(e2.brief)")
        for (event, rev) in [(e1, r1), (e2, r2)] {
            let body = try XCTUnwrap(event.text.flatMap { Int64($0) }, "12.11 #92: decimal body, \(event.brief)")
            XCTAssertLessThan(body, rev, "12.11 #92: applied body < its own rev")
            XCTAssertGreaterThanOrEqual(body, 56, "12.11 #92")
            XCTAssertEqual(event.flags, EventFlags.set, "12.11 #92")
        }
        XCTAssertGreaterThan(t2 - t1, 0.4, "12.11 #92: about one pulse per second")
        XCTAssertLessThan(t2 - t1, 2.5, "12.11 #92: about one pulse per second")
    }

    // 12.11 #93
    func testVersionAndAddr() throws {
        let c = try connect()
        let version = try c.get("\(node)/version")
        XCTAssertEqual(version.rev, 4, "12.11 #93 version rev")
        XCTAssertFalse((version.value ?? []).isEmpty, "12.11 #93: version is informational but present")
        assertExactly(try c.call(Request(tag: 93, verb: .get, path: "\(node)/addr")),
                      Response(tag: 93, rev: 2, value: bytes(server.address)), "12.11 #93 addr = -l as bound")
        XCTAssertEqual(try c.get("/ctl/ns/local/\(nodeID)").text, server.address, "§3.12 /ctl/ns/<cluster>/<id>")
    }
}
