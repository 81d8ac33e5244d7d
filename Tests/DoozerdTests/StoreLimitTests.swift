import XCTest
import DoozerWire

/// -maxpath and -maxglob at their defaults, and paths far deeper than any stack (issue 10).
final class StoreLimitTests: DoozerdTestCase {
    /// "/a/a/…/a/<leaf>", exactly `bytes` long: the leaf is one or two `leaf` characters.
    private func path(bytes: Int, leaf: Character) -> String {
        let leafCount = bytes % 2 == 0 ? 1 : 2
        return String(repeating: "/a", count: (bytes - 1 - leafCount) / 2) + "/" + String(repeating: leaf, count: leafCount)
    }

    func testPathUpToMaxPathIsWrittenLongerIsBadPath() throws {
        let c = try connect()
        let top = "/" + unique("deep")
        let fits = top + path(bytes: 4096 - top.utf8.count, leaf: "f")
        XCTAssertEqual(fits.utf8.count, 4096)
        let rev = try c.mustSet(fits, "ok")
        XCTAssertEqual(try c.get(fits).rev, rev, "-maxpath 4096: a 4096-byte path is written and read")
        XCTAssertEqual(try c.walkAll(top + "/**").count, 1)

        let over = top + path(bytes: 4097 - top.utf8.count, leaf: "g")
        for response in [try c.set(over, "no", rev: -1), try c.del(over, rev: -1)] {
            XCTAssertEqual(response.error, .badPath, "-maxpath: \(response.brief)")
            XCTAssertEqual(response.errDetail, "path longer than -maxpath")
        }
        XCTAssertEqual(try c.del(fits, rev: -1).error, nil, "the deep file is deleted, its directories pruned")
        XCTAssertEqual(try c.stat(top).len, 0)
    }

    func testGlobOverMaxGlobIsRefused() throws {
        let c = try connect()
        let long = "/" + String(repeating: "*?", count: 2048)   // 4097 bytes
        for response in [try c.wait(long, rev: 1), try c.walk(long, offset: 0)] {
            XCTAssertEqual(response.error, .other, "-maxglob: \(response.brief)")
            XCTAssertEqual(response.errDetail, "glob pattern longer than -maxglob")
        }
        let fits = String(long.dropLast())
        XCTAssertEqual(try c.walk(fits, offset: 0).error, .range, "a 4096-byte glob is matched")
        XCTAssertNotNil(try c.wait("/**", rev: 1).rev, "the connection keeps serving")
    }

    /// A 4 KiB glob over 4 KiB paths at an old revision: the scan is spread over loop turns
    /// (Store.scanBudget) and still answers with the first match; others are served meanwhile.
    func testHeavyWaitOverHistoryIsAnswered() throws {
        let c = try connect()
        let top = "/" + unique("scan")
        let filler = String(repeating: "x", count: 3900)
        var revs: [Int64] = []
        for i in 0..<40 { revs.append(try c.mustSet("\(top)/\(i)/\(filler)" + (i == 30 ? "Z" : "Y"), "v")) }
        let glob = "/" + String(repeating: "**?", count: 1364) + "Z"
        let tag = c.nextTag()
        try c.send(Request(tag: tag, verb: .wait, path: glob, rev: revs[0]))
        let other = try connect()
        XCTAssertGreaterThanOrEqual(try other.rev(), revs[39], "another connection is served")
        let answer = try c.receive(tag: tag)
        XCTAssertNil(answer.error, answer.brief)
        XCTAssertEqual(answer.rev, revs[30], "the first matching event: \(answer.brief)")
    }
}

/// With -maxpath raised, one SET of 100,000 components (issue 10: 23,000 crashed the server).
final class DeepPathServerTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { .init(arguments: ["-maxpath", "1000000"]) }

    func testHundredThousandComponentsDoNotCrashTheServer() throws {
        let c = try connect()
        let top = "/" + unique("deep")
        let deep = top + String(repeating: "/a", count: 100_000)
        let rev = try c.mustSet(deep, "bottom")
        XCTAssertEqual(try c.get(deep).rev, rev)
        XCTAssertEqual(try c.walk(top + "/**", offset: 0).rev, rev)
        XCTAssertNil(try c.del(deep, rev: -1).error)
        XCTAssertEqual(try c.stat(top).len, 0, "every directory pruned")
        XCTAssertEqual(try connect().get("/ctl/name").text, "local", "the server keeps serving")
    }
}
