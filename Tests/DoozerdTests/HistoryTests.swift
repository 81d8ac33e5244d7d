// History window with `-hist 5`: §12.6 #63, §12.7 #71, §12.9 #82, §12.11 #94, §2.6, §3.10.

import DoozerWire
import XCTest

final class HistoryTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { .init(arguments: ["-hist", "5"]) }

    /// Bounded retry until the cleaner has trimmed revision 1 (it runs about once a second).
    private func waitUntilRevOneIsTrimmed(_ c: TestConnection, item: String) throws {
        let deadline = now() + 6
        var last = Response()
        while now() < deadline {
            last = try c.wait("/**", rev: 1)
            if last.error == .tooLate { return }
            pause(0.1)
        }
        XCTFail("\(item): WAIT(/**, 1) still answered \(last.brief) after 6 s with -hist 5")
    }

    // 12.6 #63 and #56 (second half)
    func testWaitFromRevOneIsTooLate() throws {
        let c = try connect()
        try waitUntilRevOneIsTrimmed(c, item: "12.6 #63")
        assertExactly(try c.call(Request(tag: 63, verb: .wait, path: "/**", rev: 1)),
                      Response(tag: 63, errCode: .tooLate), "12.6 #63")
        for rev: Int64 in [0, -7] {
            assertExactly(try c.call(Request(tag: 64, verb: .wait, path: "/**", rev: rev)),
                          Response(tag: 64, errCode: .tooLate), "12.6 #56: WAIT(/**, \(rev)) once 1 is trimmed")
        }
        assertError(try c.wait("/ctl/name", rev: 1), .tooLate, "12.6 #63 (any glob)")
    }

    // 12.7 #71
    func testWalkOutsideHistoryIsTooLate() throws {
        let c = try connect()
        try waitUntilRevOneIsTrimmed(c, item: "12.7 #71")
        assertExactly(try c.call(Request(tag: 71, verb: .walk, path: "/**", offset: 0, rev: 2)),
                      Response(tag: 71, errCode: .tooLate), "12.7 #71")
    }

    // 12.9 #82 (second half)
    func testStatOutsideHistoryIsTooLate() throws {
        let c = try connect()
        try waitUntilRevOneIsTrimmed(c, item: "12.9 #82")
        assertExactly(try c.call(Request(tag: 82, verb: .stat, path: "/ctl/name", rev: 1)),
                      Response(tag: 82, errCode: .tooLate), "12.9 #82")
    }

    // §2.6 for GET and GETDIR
    func testGetAndGetdirOutsideHistoryAreTooLate() throws {
        let c = try connect()
        try waitUntilRevOneIsTrimmed(c, item: "§2.6")
        assertExactly(try c.call(Request(tag: 1, verb: .get, path: "/ctl/name", rev: 1)),
                      Response(tag: 1, errCode: .tooLate), "§2.6 GET rev 1")
        assertExactly(try c.call(Request(tag: 2, verb: .get, path: "/ctl/name", rev: 0)),
                      Response(tag: 2, errCode: .tooLate), "§2.6 GET rev 0 (= 1)")
        assertExactly(try c.call(Request(tag: 3, verb: .getdir, path: "/ctl", offset: 0, rev: 1)),
                      Response(tag: 3, errCode: .tooLate), "§2.6 GETDIR rev 1")
    }

    // 12.11 #94
    func testRecentRevsAnsweredOldRevsTooLate() throws {
        let c = try connect()
        try waitUntilRevOneIsTrimmed(c, item: "12.11 #94")
        // current − 4 is always retained; repeat if a write (pulse) raced with the request.
        var checked = false
        for _ in 0..<10 {
            let current = try c.rev()
            let response = try c.get("/ctl/name", rev: current - 4)
            let waitResponse = try c.wait("/**", rev: current - 4)
            if try c.rev() != current { continue }
            assertExactly(response, Response(tag: response.tag, rev: 1, value: bytes("local")), "12.11 #94: GET rev current-4")
            XCTAssertEqual(waitResponse.rev, current - 4, "§3.10: WAIT at current-4 retained, \(waitResponse.brief)")
            checked = true
            break
        }
        XCTAssertTrue(checked, "12.11 #94: could not find a quiet moment to check current-4")
        // current − 10: TOO_LATE, allowing for ≤ 1 s of GC lag.
        let deadline = now() + 3
        var last = Response()
        while now() < deadline {
            let current = try c.rev()
            last = try c.get("/ctl/name", rev: current - 10)
            if last.error == .tooLate { break }
            pause(0.1)
        }
        assertError(last, .tooLate, "12.11 #94: GET rev current-10")
    }

    // §3.10: the server keeps working normally with a tiny window.
    func testWritesAndWaitsStillWork() throws {
        let a = try connect()
        let b = try connect()
        let path = "/" + unique("h")
        let current = try a.rev()
        try a.send(Request(tag: 9, verb: .wait, path: path, rev: current + 1))
        let rev = try b.mustSet(path, "x")
        let event = try a.receive(tag: 9)
        XCTAssertEqual(event.rev, rev, "§3.10: WAIT still fires: \(event.brief)")
        XCTAssertEqual(try b.get(path).rev, rev, "§3.10")
    }
}
