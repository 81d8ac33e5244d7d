// §12.11 store semantics: path validation (#95), body round-trips (#97), and §3.2/§3.5 details.

import DoozerWire
import XCTest

final class StoreSemanticsTests: DoozerdTestCase {
    // 12.11 #95
    func testPathValidation() throws {
        let c = try connect()
        let base = "/" + unique("p")
        for path in [base + "/x/y-z", base + "/x/y.z", base + "/x/0", base + "/.", base + "/..", "/.", "/..",
                     base + "/a/../b", base + "/A-Z.az09", base + "/-"] {
            let response = try c.set(path, "ok", rev: -1)
            assertOK(response, "12.11 #95 SET \(path)")
            XCTAssertEqual(try c.get(path).text, "ok", "12.11 #95 GET \(path)")
        }
        XCTAssertEqual(try c.listDir(base + "/a"), [".."], "§3.1: `..` is an ordinary name")
        for path in [base + "/x_y", base + "/x=", base + "/a:b", base + "/é", "/x_y", "/x=", "/a:b", "/é",
                     base + "/", base + "//x", "x", base + "/a\u{0}b", base + "/a\nb", base + "/a*b", base + "/a?"] {
            assertExactly(try c.call(Request(tag: 95, verb: .set, path: path, value: bytes("v"), rev: -1)),
                          Response(tag: 95, errCode: .badPath), "12.11 #95 SET \(path.debugDescription)")
        }
        // Paths are case-sensitive.
        try c.mustSet(base + "/Case", "upper")
        try c.mustSet(base + "/case", "lower")
        XCTAssertEqual(try c.get(base + "/Case").text, "upper", "§3.1 case-sensitive")
        XCTAssertEqual(try c.get(base + "/case").text, "lower", "§3.1 case-sensitive")
    }

    // 12.11 #97
    func testBodiesRoundTrip() throws {
        let c = try connect()
        let path = "/" + unique("body")
        for body in ["a=b", "x:y", "line1\nline2\n", "=:=\n:=", "-1:/x=y", "nop:", "", "\r\n\t ", "ünïcødé"] {
            let before = try c.rev()
            let rev = try c.mustSet(path, body)
            let get = try c.call(Request(tag: 97, verb: .get, path: path))
            assertExactly(get, Response(tag: 97, rev: rev, value: bytes(body)), "12.11 #97 GET \(body.debugDescription)")
            let event = try c.wait(path, rev: before + 1)
            XCTAssertEqual(event.value ?? [], bytes(body), "12.11 #97 WAIT \(body.debugDescription)")
            XCTAssertEqual(event.rev, rev, "12.11 #97 WAIT rev")
            let walk = try c.walk(path, offset: 0)
            XCTAssertEqual(walk.value ?? [], bytes(body), "12.11 #97 WALK \(body.debugDescription)")
        }
    }

    // §3.3: failed mutations consume a seqn; revisions are dense.
    func testFailedWritesConsumeASeqn() throws {
        let c = try connect()
        let path = "/" + unique("seq")
        let r1 = try c.mustSet(path, "x")
        assertError(try c.set(path, "y", rev: 0), .revMismatch, "§3.3")
        let r2 = try c.mustSet(path, "z")
        XCTAssertGreaterThanOrEqual(r2, r1 + 2, "§3.3: the failed SET consumed at least one seqn")
        var sawErr = false
        for rev in (r1 + 1)..<r2 {
            let event = try c.wait("/**", rev: rev)
            XCTAssertEqual(event.rev, rev, "§3.3 dense revisions")
            if event.path == "/ctl/err" { sawErr = true }
        }
        XCTAssertTrue(sawErr, "§3.3: the failure is an event on /ctl/err between \(r1) and \(r2)")
    }

    // §3.3: two different files never share a rev; a file's rev is the seqn of its last SET.
    func testDistinctRevs() throws {
        let c = try connect()
        var revs: Set<Int64> = []
        for i in 0..<20 {
            let rev = try c.mustSet("/" + unique("r\(i)"), "x")
            XCTAssertFalse(revs.contains(rev), "§3.3: rev \(rev) reused")
            revs.insert(rev)
        }
    }

    // §3.12 / L11: clients may write under /ctl.
    func testClientsMayWriteCtl() throws {
        let c = try connect()
        let path = "/ctl/" + unique("x")
        assertOK(try c.set(path, "v", rev: 0), "§3.12: /ctl is not protected")
        assertOK(try c.del(path, rev: -1), "§3.12")
    }
}
