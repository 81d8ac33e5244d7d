import XCTest
@testable import DoozerStore
import DoozerTestSupport

final class ReadTests: XCTestCase {
    func testGetdirOrderAndErrors() {
        let s = Store(history: 10)
        for n in ["b", "a", "B", "-"] { s.set("/d/" + n, n) }
        s.set("/d/sub/x", "x")
        let snap = s.current
        XCTAssertEqual(snap.names("/d"), ["-", "B", "a", "b", "sub"])
        XCTAssertEqual(snap.entry(ofDirectory: "/d", at: 0), .name(b("-")))
        XCTAssertEqual(snap.entry(ofDirectory: "/d", at: 3), .name(b("b")))
        XCTAssertEqual(snap.entry(ofDirectory: "/d", at: 5), .range)
        XCTAssertEqual(snap.entry(ofDirectory: "/d", at: -1), .range)
        XCTAssertEqual(snap.entry(ofDirectory: "/nope", at: 0), .noEnt)
        XCTAssertEqual(snap.entry(ofDirectory: "/d/nope/x", at: 0), .noEnt)
        XCTAssertEqual(snap.entry(ofDirectory: "/d/a", at: 0), .notDir)
        XCTAssertEqual(snap.entry(ofDirectory: "/d/a", at: 7), .notDir)
        XCTAssertEqual(snap.entry(ofDirectory: "/d/a/x", at: 0), .noEnt)
        XCTAssertEqual(snap.names("/"), ["d"])
        XCTAssertEqual(snap.lookup("/d"), .directory(count: 5))
        XCTAssertEqual(Store(history: 1).current.entry(ofDirectory: "/", at: 0), .range)
        // §12 item 72 style: /ctl at offsets.
        let t = Store(history: 10)
        for p in ["/ctl/name", "/ctl/node/x/addr", "/ctl/cal/0", "/ctl/ns/c/x"] { t.set(p, "v") }
        t.set("/a", "1", rev: -9)  // → /ctl/err
        XCTAssertEqual(t.current.names("/ctl"), ["cal", "err", "name", "node", "ns"])
    }

    func testWalkOrderRangeAndDirectories() {
        let s = Store(history: 10)
        for p in ["/b", "/a/c/d", "/a/b", "/a-/x", "/A", "/a/c/e"] { s.set(p, p) }
        let snap = s.current
        // Depth-first, each directory sorted (not a sort of full paths: "/a-/x" > "/a/...").
        XCTAssertEqual(snap.walkAll("/**"), ["/A", "/a/b", "/a/c/d", "/a/c/e", "/a-/x", "/b"])
        XCTAssertEqual(snap.files.map { $0.0 }, ["/A", "/a/b", "/a/c/d", "/a/c/e", "/a-/x", "/b"])
        let hit = snap.walk(Glob("/**")!, offset: 2)!
        XCTAssertEqual(hit, Snapshot.WalkHit(path: b("/a/c/d"), body: b("/a/c/d"), rev: 2))
        XCTAssertNil(snap.walk(Glob("/**")!, offset: 6))
        XCTAssertNil(snap.walk(Glob("/**")!, offset: -1))
        // Directories never match.
        XCTAssertNil(snap.walk(Glob("/a")!, offset: 0))
        XCTAssertNil(snap.walk(Glob("/a/c")!, offset: 0))
        XCTAssertEqual(snap.walkAll("/a*"), [])  // /a and /a- are directories
        XCTAssertEqual(snap.walkAll("/*"), ["/A", "/b"])
        XCTAssertEqual(snap.walkAll("/a/**"), ["/a/b", "/a/c/d", "/a/c/e"])
        XCTAssertEqual(snap.walkAll("/a**"), ["/a/b", "/a/c/d", "/a/c/e", "/a-/x"])
        XCTAssertEqual(snap.walkAll("/a/c/?"), ["/a/c/d", "/a/c/e"])
        XCTAssertEqual(snap.walkAll("/**/e"), ["/a/c/e"])
        XCTAssertEqual(snap.walkAll("/*/*"), ["/a/b", "/a-/x"])
        XCTAssertEqual(snap.walkAll("/b"), ["/b"])
        XCTAssertEqual(snap.walkAll("/"), [])
        XCTAssertEqual(snap.walkAll("/a/c/d"), ["/a/c/d"])
        XCTAssertNil(snap.walk(Glob("/a/c/d")!, offset: 1))
    }

    func testForEachFile() {
        let s = Store(history: 10)
        for p in ["/a/x", "/a/b/y", "/c"] { s.set(p, p + "!") }
        var seen: [String] = []
        s.current.forEachFile(under: "/a") { p, bd, r in seen.append("\(str(p)) \(str(bd)) \(r)") }
        XCTAssertEqual(seen, ["/a/b/y /a/b/y! 2", "/a/x /a/x! 1"])
        seen = []
        s.current.forEachFile(under: "/c") { p, _, _ in seen.append(str(p)) }
        XCTAssertEqual(seen, ["/c"])
        seen = []
        s.current.forEachFile(under: "/nope") { p, _, _ in seen.append(str(p)) }
        s.current.forEachFile(under: "/a/") { p, _, _ in seen.append(str(p)) }
        XCTAssertEqual(seen, [])
        XCTAssertEqual(s.current.files.count, 3)
    }

    func testWalkSpecExamples() {
        let s = Store(history: 100)
        s.set("/ctl/name", "c")
        s.set("/ctl/node/ID/addr", "1")
        XCTAssertEqual(s.snap(2)!.walk(Glob("/**")!, offset: 0)?.path, b("/ctl/name"))
        XCTAssertEqual(s.snap(2)!.walk(Glob("/**")!, offset: 1)?.path, b("/ctl/node/ID/addr"))
        XCTAssertNil(s.snap(2)!.walk(Glob("/**")!, offset: 2))
        XCTAssertNil(s.current.walk(Glob("/ctl")!, offset: 0))
        XCTAssertEqual(s.current.walkAll("/**/name"), ["/ctl/name"])
        s.set("/name", "top")
        XCTAssertEqual(s.current.walkAll("/**name"), ["/ctl/name", "/name"])
    }

    func testWalkMatchesBruteForce() {
        var rng = SplitMix64(seed: 99)
        let s = Store(history: 10)
        let comps = ["a", "ab", "b", "-", "B", "a.", "x"]
        for _ in 0..<300 {
            var p = ""
            for _ in 0..<(1 + rng.below(3)) { p += "/" + rng.pick(comps) }
            s.set(p, p)  // some fail with NOTDIR/ISDIR; fine
        }
        let all = s.current.files.map { $0.0 }
        let globs = ["/**", "/a**", "/a/**", "/*", "/*/*", "/a*/b*", "/?", "/**/b", "/a/?b", "/ab/*/**", "/b/-", "/x*/**",
                     "/a.", "/**x", "/*b/**/a*", "/ctl/**"]
        for g in globs {
            let want = all.filter { referenceGlob(g, $0) }
            XCTAssertEqual(s.current.walkAll(g), want, g)
        }
    }

    func testSnapshotsAreFrozen() {
        let s = Store(history: 100)
        s.set("/a", "1")
        s.set("/d/x", "2")
        let at2 = s.current
        s.set("/a", "3")
        s.del("/d/x")
        s.set("/d/y/z", "4")
        XCTAssertEqual(at2.rev, 2)
        XCTAssertEqual(at2.lookup("/a"), .file(body: b("1"), rev: 1))
        XCTAssertEqual(at2.lookup("/d/x"), .file(body: b("2"), rev: 2))
        XCTAssertEqual(at2.lookup("/d/y"), .missing)
        XCTAssertEqual(s.snap(2)!.files.map { $0.0 }, ["/a", "/d/x"])
        XCTAssertEqual(s.snap(1)!.files.map { $0.0 }, ["/a"])
        XCTAssertEqual(s.snap(3)!.lookup("/a"), .file(body: b("3"), rev: 3))
        XCTAssertEqual(s.snap(4)!.lookup("/d"), .missing)
        XCTAssertEqual(s.current.lookup("/d/y/z"), .file(body: b("4"), rev: 5))
    }

    func testHistoryTrimmingAndTooLate() {
        let s = Store(history: 5)
        XCTAssertEqual(s.oldestRetained, 1)
        if case .snapshot(let x) = s.snapshot(at: 0) { XCTAssertEqual(x.rev, 0) } else { XCTFail() }
        guard case .future = s.snapshot(at: 1) else { return XCTFail() }
        for i in 1...20 {
            s.set("/n", String(i))
            XCTAssertEqual(s.oldestRetained, Int64(max(1, i - 4)))
        }
        XCTAssertEqual(s.rev, 20)
        guard case .tooLate = s.snapshot(at: 15) else { return XCTFail() }
        guard case .tooLate = s.snapshot(at: 1) else { return XCTFail() }
        guard case .future = s.snapshot(at: 21) else { return XCTFail() }
        for r: Int64 in 16...20 {
            XCTAssertEqual(s.snap(r)?.lookup("/n"), .file(body: b(String(r)), rev: r))
            XCTAssertEqual(s.event(at: r)?.seqn, r)
        }
        XCTAssertNil(s.event(at: 15))
        XCTAssertNil(s.event(at: 21))
        guard case .tooLate = s.wait("/**", from: 15, id: 1) else { return XCTFail() }
        guard case .fired(let e) = s.wait("/**", from: 16, id: 1) else { return XCTFail() }
        XCTAssertEqual(e.seqn, 16)

        let one = Store(history: 1)
        one.nop(); one.nop()
        XCTAssertEqual(one.oldestRetained, 2)
        guard case .tooLate = one.snapshot(at: 1) else { return XCTFail() }
        XCTAssertNotNil(one.snap(2))
        XCTAssertEqual(Store(history: 0).history, 1)
    }
}
