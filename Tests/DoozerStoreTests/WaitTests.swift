import XCTest
@testable import DoozerStore
import DoozerTestSupport

final class WaitTests: XCTestCase {
    func fired(_ r: Store.WaitResult) -> Event? {
        if case .fired(let e) = r { return e }
        return nil
    }
    func isPending(_ r: Store.WaitResult) -> Bool {
        if case .pending = r { return true }
        return false
    }

    func testPastEventsEarliestFirst() {
        let s = Store(history: 100)
        s.set("/ctl/name", "c")  // 1
        s.set("/x", "1")         // 2
        s.nop()                  // 3
        s.set("/x", "2")         // 4
        XCTAssertEqual(fired(s.wait("/**", from: 1, id: 1))?.path, b("/ctl/name"))
        XCTAssertEqual(fired(s.wait("/x", from: 1, id: 1))?.seqn, 2)
        XCTAssertEqual(fired(s.wait("/x", from: 3, id: 1))?.seqn, 4)
        XCTAssertEqual(fired(s.wait("/x", from: 4, id: 1))?.body, b("2"))
        // No-ops have path "/" and match "/**" and "/".
        let n = fired(s.wait("/", from: 1, id: 1))!
        XCTAssertEqual(n.seqn, 3)
        XCTAssertEqual(n.flags, 0)
        XCTAssertEqual(n.path, b("/"))
        XCTAssertEqual(n.body, [])
        XCTAssertEqual(fired(s.wait("/**", from: 3, id: 1))?.seqn, 3)
        XCTAssertEqual(s.pendingWaits, 0)
    }

    func testPendingFiresOnceInRegistrationOrder() {
        let s = Store(history: 100)
        s.nop()
        XCTAssertTrue(isPending(s.wait("/x", from: 2, id: 10)))
        XCTAssertTrue(isPending(s.wait("/**", from: 2, id: 11)))
        XCTAssertTrue(isPending(s.wait("/x*", from: 2, id: 7)))
        XCTAssertTrue(isPending(s.wait("/y", from: 2, id: 3)))
        XCTAssertEqual(s.pendingWaits, 4)
        let a = s.set("/x", "v")
        XCTAssertEqual(a.ids, [10, 11, 7])
        XCTAssertEqual(s.pendingWaits, 1)
        XCTAssertEqual(s.set("/x", "w").ids, [])
        XCTAssertEqual(s.set("/y", "w").ids, [3])
        XCTAssertEqual(s.pendingWaits, 0)
    }

    func testFutureStart() {
        let s = Store(history: 100)
        s.nop()
        XCTAssertTrue(isPending(s.wait("/x", from: 5, id: 1)))
        XCTAssertEqual(s.set("/x", "2").ids, [])  // seqn 2 < 5
        s.nop(); s.nop()
        XCTAssertEqual(s.set("/x", "5").ids, [1])
    }

    // Watches that cannot fire before a later seqn (a client pipelining WAITs at consecutive
    // revs) fire at that seqn, in registration order with the others, and can be cancelled
    // before it.
    func testFutureStartsFireAtTheirSeqnInRegistrationOrder() {
        let s = Store(history: 100)
        s.nop()                                                  // rev 1
        XCTAssertTrue(isPending(s.wait("/**", from: 4, id: 1)))
        XCTAssertTrue(isPending(s.wait("/**", from: 3, id: 2)))
        XCTAssertTrue(isPending(s.wait("/**", from: 4, id: 3)))  // cancelled below
        XCTAssertTrue(isPending(s.wait("/x", from: 2, id: 4)))
        XCTAssertTrue(isPending(s.wait("/**", from: 4, id: 5)))
        s.cancel(3)
        XCTAssertEqual(s.pendingWaits, 4)
        XCTAssertEqual(s.set("/y", "2").ids, [])               // seqn 2: /x not written
        XCTAssertEqual(s.set("/y", "3").ids, [2])              // seqn 3
        XCTAssertEqual(s.set("/x", "4").ids, [1, 4, 5])        // seqn 4: registration order
        XCTAssertEqual(s.pendingWaits, 0)
    }

    // Watches for later revisions wait in a ring of buckets (the next `WatchIndex.window`
    // revisions) or, further out, in a table by revision. Either way each fires exactly at its
    // revision, and a cancelled one never does.
    func testFutureWatchesNearAndFarFireAtTheirRevision() {
        let s = Store(history: 10)
        let window = Int64(WatchIndex.window)
        let froms: [UInt64: Int64] = [1: 1, 2: 2, 3: window, 4: window + 1, 5: window + 2,
                                      6: 600, 7: 600, 8: 2, 9: 600, 10: 1 << 40]
        for id in froms.keys.sorted() { XCTAssertTrue(isPending(s.wait("/**", from: froms[id]!, id: id))) }
        s.cancel(8)   // near
        s.cancel(9)   // far
        var firedAt: [UInt64: Int64] = [:]
        for _ in 1...700 {
            let a = s.nop()
            for id in a.ids {
                XCTAssertNil(firedAt[id], "watch \(id) fired twice")
                firedAt[id] = a.event.seqn
            }
        }
        XCTAssertEqual(firedAt, [1: 1, 2: 2, 3: window, 4: window + 1, 5: window + 2, 6: 600, 7: 600])
        XCTAssertEqual(s.pendingWaits, 1)   // 1 << 40
    }

    func testCancel() {
        let s = Store(history: 100)
        XCTAssertTrue(isPending(s.wait("/x", from: 1, id: 1)))
        XCTAssertTrue(isPending(s.wait("/x", from: 1, id: 2)))
        s.cancel(1)
        s.cancelWait(WatchID(999) << 32 | 5)  // never issued: no-op
        XCTAssertEqual(s.set("/x", "v").ids, [2])
        XCTAssertEqual(s.pendingWaits, 0)
    }

    // A fired or cancelled id is stale for good: cancelling it again leaves alone the watch
    // that reuses its slot.
    func testStaleIdsCancelNothing() {
        let s = Store(history: 100)
        guard case .pending(let first) = s.wait(Glob("/x")!, from: 1, owner: WatchOwner(token: 1, cookie: 0)) else { return XCTFail() }
        XCTAssertTrue(s.isPending(first))
        XCTAssertEqual(s.set("/x", "v").ids, [1])
        XCTAssertFalse(s.isPending(first))
        guard case .pending(let second) = s.wait(Glob("/x")!, from: 2, owner: WatchOwner(token: 2, cookie: -7)) else { return XCTFail() }
        XCTAssertNotEqual(first, second)
        s.cancelWait(first)
        XCTAssertTrue(s.isPending(second))
        XCTAssertEqual(s.set("/x", "w").fired, [WatchOwner(token: 2, cookie: -7)])
        s.cancelWait(second)
        XCTAssertEqual(s.pendingWaits, 0)
    }

    func testTrieIsPrunedAndReused() {
        let s = Store(history: 10)
        for round in 0..<3 {
            for i in 0..<50 {
                XCTAssertTrue(isPending(s.wait("/ctl/node/N\(i)/applied*", from: s.rev + 1, id: UInt64(i))))
            }
            XCTAssertGreaterThan(s.liveTrieNodes, 50)
            if round == 0 {
                for i in 0..<50 { s.cancel(UInt64(i)) }
            } else {
                XCTAssertEqual(s.set("/ctl/node/N7/applied", "1").ids, [7])
                XCTAssertEqual(s.set("/ctl/node/N4/appliedX", "1").ids, [4])
                XCTAssertEqual(s.set("/ctl/node", "1").ids, [])  // prefix of the watches, no match
                for i in 0..<50 { s.cancel(UInt64(i)) }
            }
            XCTAssertEqual(s.pendingWaits, 0)
            XCTAssertEqual(s.liveTrieNodes, 1)
        }
    }

    /// A long literal glob costs a bounded number of trie nodes, not one per byte (issue 10:
    /// ~80 bytes per pattern byte), and still fires only on its own path.
    func testLongLiteralPrefixIsIndexedOnlyInPart() {
        let s = Store(history: 10)
        let long = "/" + String(repeating: "x", count: 4095)
        XCTAssertTrue(isPending(s.wait(long, from: 1, id: 1)))
        XCTAssertTrue(isPending(s.wait(long + "*", from: 1, id: 2)))
        XCTAssertLessThanOrEqual(s.liveTrieNodes, WatchIndex.indexedPrefix + 1)
        XCTAssertEqual(s.set(String(long.dropLast()), "near").ids, [])
        XCTAssertEqual(s.set(long + "y", "star").ids, [2])
        XCTAssertEqual(s.set(long, "exact").ids, [1])
        XCTAssertEqual(s.liveTrieNodes, 1)
    }

    func testEventKindsThroughWait() {
        let s = Store(history: 100)
        s.set("/x", "1")
        XCTAssertTrue(isPending(s.wait("/x", from: 2, id: 1)))
        XCTAssertTrue(isPending(s.wait("/ctl/err", from: 2, id: 2)))
        XCTAssertTrue(isPending(s.wait("/", from: 2, id: 3)))
        let d = s.del("/x", rev: 1)
        XCTAssertEqual(d.ids, [1])
        let e = fired(s.wait("/x", from: 2, id: 9))!
        XCTAssertEqual(e.flags, 8)
        XCTAssertEqual(e.body, [])
        XCTAssertEqual(e.seqn, 2)
        let f = s.set("/x", "v", rev: -2)
        XCTAssertEqual(f.ids, [2])
        XCTAssertEqual(f.event.flags, 4)
        XCTAssertEqual(f.event.body, b("rev mismatch"))
        XCTAssertEqual(s.nop().ids, [3])
    }

    func testGlobTableThroughWait() {
        let s = Store(history: 100)
        func watch(_ g: String, _ id: UInt64) { XCTAssertTrue(isPending(s.wait(g, from: s.rev + 1, id: id))) }
        watch("/a/**", 1)
        watch("/a*", 2)
        XCTAssertEqual(s.set("/a/b", "x").ids, [1])  // /a* does not match /a/b
        watch("/a/**", 1)
        XCTAssertEqual(s.del("/a/b").ids, [1])
        watch("/a/**", 1)
        XCTAssertEqual(s.set("/a", "x").ids, [2])    // /a/** does not match /a
        XCTAssertEqual(s.set("/ab", "x").ids, [])
        watch("/*", 3)
        XCTAssertEqual(s.nop().ids, [3])             // "/" matches "/*" too (regex ^/[^/]*$)
        watch("/**name", 4)
        watch("/**/name", 5)
        XCTAssertEqual(s.set("/name", "x").ids, [4])
        XCTAssertEqual(s.set("/ctl/name", "x").ids, [5])
        XCTAssertEqual(s.del("/a/q").ids, [1])       // B6: a delete below the file /a
    }

    func testRandomWatchersAgainstBruteForce() {
        var rng = SplitMix64(seed: 1234)
        let s = Store(history: 50)
        let globs = ["/**", "/", "/a", "/a/**", "/a*", "/a/b", "/a/*", "/*/b", "/ab*", "/b**", "/a?", "/**/b", "/ctl/err", "/*"]
        let paths = ["/a", "/ab", "/a/b", "/b", "/b/a/b", "/abc", "/a/bb"]
        var pending: [(id: UInt64, glob: String, from: Int64)] = []
        var nextID: UInt64 = 1
        for _ in 0..<1500 {
            switch rng.below(10) {
            case 0..<4:
                let g = rng.pick(globs)
                let ahead = rng.below(10) == 0 ? Int64(rng.below(2 * WatchIndex.window)) : Int64(rng.below(8)) - 2
                let from = max(1, s.rev + ahead)
                let r = s.wait(g, from: from, id: nextID)
                // Expected from history: the first retained event ≥ from that matches.
                var want: Int64? = nil
                if from >= s.oldestRetained {
                    var q = from
                    while q <= s.rev {
                        if referenceGlob(g, str(s.event(at: q)!.path)) { want = q; break }
                        q += 1
                    }
                }
                switch r {
                case .fired(let e): XCTAssertEqual(e.seqn, want)
                case .pending:
                    XCTAssertNil(want)
                    pending.append((nextID, g, from))
                case .tooLate: XCTAssertLessThan(from, s.oldestRetained)
                }
                nextID += 1
            case 4:
                if !pending.isEmpty {
                    let i = rng.below(pending.count)
                    s.cancel(pending[i].id)
                    pending.remove(at: i)
                }
            default:
                let a: Store.Applied
                switch rng.below(4) {
                case 0: a = s.nop()
                case 1: a = s.del(rng.pick(paths))
                case 2: a = s.set(rng.pick(paths), "v", rev: rng.pick([-1, -2]))
                default: a = s.set(rng.pick(paths), "v")
                }
                let path = str(a.event.path)
                let want = pending.filter { a.event.seqn >= $0.from && referenceGlob($0.glob, path) }.map { $0.id }
                XCTAssertEqual(a.ids, want)
                pending.removeAll { want.contains($0.id) }
            }
            XCTAssertEqual(s.pendingWaits, pending.count)
        }
    }
}

/// `Store.install`: a node that fell behind jumps to a newer snapshot.
final class InstallTests: XCTestCase {
    func testInstallJumpsToTheSnapshotAndHandsBackPendingWaits() {
        let behind = Store(history: 100)
        behind.set("/x", "old")                                   // 1
        guard case .pending = behind.wait("/x", from: 2, id: 7) else { return XCTFail("pending") }
        guard case .pending = behind.wait("/**", from: 5, id: 8) else { return XCTFail("pending") }

        let ahead = Store(history: 100)
        for i in 1...10 { ahead.set("/x", "v\(i)") }              // 1…10
        let owners = behind.install(ahead.current)
        XCTAssertEqual(owners.map(\.token), [7, 8], "pending WAITs handed back in registration order")
        XCTAssertEqual(behind.pendingWaits, 0)
        XCTAssertEqual(behind.rev, 10)
        XCTAssertEqual(behind.oldestRetained, 11, "history restarts after the snapshot (B8)")
        guard case .tooLate = behind.snapshot(at: 9) else { return XCTFail("revisions before the snapshot are gone") }
        guard case .snapshot(let now) = behind.snapshot(at: 10), case .file(let body, let rev) = now.lookup("/x") else {
            return XCTFail("the snapshot's tree")
        }
        XCTAssertEqual(body, b("v10"))
        XCTAssertEqual(rev, 10)
        behind.set("/x", "after")                                 // 11
        XCTAssertEqual(fired(behind.wait("/x", from: 11, id: 1))?.body, b("after"))
    }

    private func fired(_ r: Store.WaitResult) -> Event? {
        if case .fired(let e) = r { return e }
        return nil
    }
}
