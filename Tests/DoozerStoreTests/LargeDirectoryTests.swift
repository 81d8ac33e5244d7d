import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DoozerStore
import DoozerTestSupport

final class LargeDirectoryTests: XCTestCase {
    func depth(_ t: Node?) -> Int {
        guard let t else { return 0 }
        return 1 + max(depth(t.left), depth(t.right))
    }

    /// "f" + six zero-padded digits: bytewise order is numeric order, so the expected GETDIR
    /// answer at any offset is known without sorting.
    func name(_ k: Int) -> [UInt8] {
        var out = b("f")
        var digits = [UInt8](repeating: 0x30, count: 6)
        var v = k
        for i in (0..<6).reversed() { digits[i] = UInt8(0x30 + v % 10); v /= 10 }
        out.append(contentsOf: digits)
        return out
    }

    func testHundredThousandChildren() {
        let n = 100_000
        var rng = SplitMix64(seed: 5)
        let body = [UInt8](repeating: 0x78, count: 64)
        let before = residentBytes()
        var snap = Snapshot(emptyAt: 1)
        for i in 0..<n {
            let k = i &* 7919 % n  // a permutation of 0..<n: inserted out of order
            var own = body  // every file gets its own body array, as after real writes
            own[0] = UInt8(truncatingIfNeeded: i)
            if !snap.insertFile(b("/big/") + name(k), body: own, rev: 1) { XCTFail("insert \(k)") }
        }
        if let before, let after = residentBytes() {  // not under AddressSanitizer: see residentBytes
            let perFile = Double(after - before) / Double(n)
            print("store memory (RSS delta): \(perFile) bytes per 64-byte file")
            XCTAssertLessThan(perFile, 300)
        }
        XCTAssertEqual(snap.lookup("/big"), .directory(count: n))
        guard case .node(let dir) = findBig(snap), case .directory(let kids) = dir.payload else { return XCTFail() }
        let d = depth(kids)
        print("treap depth for \(n) children: \(d)")
        XCTAssertLessThan(d, 70)

        for _ in 0..<2000 {
            let off = rng.below(n)
            XCTAssertEqual(snap.entry(ofDirectory: "/big", at: off), .name(name(off)))
        }
        XCTAssertEqual(snap.entry(ofDirectory: "/big", at: 0), .name(name(0)))
        XCTAssertEqual(snap.entry(ofDirectory: "/big", at: n - 1), .name(name(n - 1)))
        XCTAssertEqual(snap.entry(ofDirectory: "/big", at: n), .range)
        guard case .file(let bd, 1) = snap.lookup(b("/big/") + name(4242)) else { return XCTFail() }
        XCTAssertEqual(bd.count, 64)

        // Deletes and a write through a store on top of the big tree.
        let s = Store(history: 4, restoring: snap)
        for k in stride(from: 0, to: n, by: 97) {
            XCTAssertNil(s.apply(Mutation.delete(b("/big/") + name(k), rev: -1)).event.error)
        }
        s.apply(Mutation.set(b("/big/zz-new"), rev: 0, body: b("new")))
        let after = (0..<n).filter { $0 % 97 != 0 }.map { name($0) } + [b("zz-new")]
        XCTAssertEqual(s.current.lookup("/big"), .directory(count: after.count))
        for _ in 0..<500 {
            let off = rng.below(after.count)
            XCTAssertEqual(s.current.entry(ofDirectory: "/big", at: off), .name(after[off]))
        }
        XCTAssertEqual(s.current.entry(ofDirectory: "/big", at: after.count - 1), .name(b("zz-new")))
        // The restored snapshot is untouched.
        XCTAssertEqual(snap.lookup("/big"), .directory(count: n))
        XCTAssertEqual(snap.walk(Glob("/big/f012345")!, offset: 0)?.path, b("/big/f012345"))
        // Prefix pruning: only the 100 names starting with "f0123" are visited.
        XCTAssertEqual(snap.walkAll("/big/f0123*"), (12300..<12400).map { "/big/" + str(name($0)) })
        XCTAssertEqual(s.current.walkAll("/big/f0123??"), (12300..<12400).filter { $0 % 97 != 0 }.map { "/big/" + str(name($0)) })
    }

    /// Every node's subtree size equals its entries, and priorities form a heap, after a
    /// random mix of creating, overwriting and deleting files in one directory (the sizes
    /// change by the entry gained or lost, without recounting siblings), with snapshots
    /// held now and then so that some writes copy shared nodes.
    func testSubtreeSizesStayExactUnderRandomWrites() {
        var rng = SplitMix64(seed: 0x517E)
        let s = Store(history: 8)
        var present = Set<Int>()
        var held: [Snapshot] = []
        for step in 0..<6000 {
            let k = rng.below(400)
            let path = b("/d/") + name(k)
            if rng.below(3) == 0 {
                s.apply(Mutation.delete(path, rev: -1))
                present.remove(k)
            } else {
                s.apply(Mutation.set(path, rev: -1, body: b("v\(step)")))
                present.insert(k)
            }
            if step % 500 == 0 { held.append(s.current) }
            if step % 100 == 99 {
                guard case .node(let dir) = b("/d").withUnsafeBytes({ Tree.find(s.current.root, $0) }),
                      case .directory(let kids) = dir.payload else { return XCTFail("step \(step): no /d") }
                XCTAssertEqual(checkedSize(kids, step: step), present.count)
                let names = present.sorted()
                for (off, k) in names.enumerated() where off % 7 == step % 7 {
                    XCTAssertEqual(s.current.entry(ofDirectory: "/d", at: off), .name(name(k)))
                }
            }
        }
        XCTAssertFalse(held.isEmpty)
    }

    /// The entries under `t`, failing where a stored size or the heap order is wrong.
    func checkedSize(_ t: Node?, step: Int) -> Int {
        guard let t else { return 0 }
        for child in [t.left, t.right] {
            if let child { XCTAssertLessThanOrEqual(child.prio, t.prio, "step \(step): heap order") }
        }
        let n = 1 + checkedSize(t.left, step: step) + checkedSize(t.right, step: step)
        XCTAssertEqual(t.size, n, "step \(step): size of \(str(t.nameArray))")
        return n
    }

    /// The process's resident bytes, or nil where they would not measure the store: without
    /// /proc, or under AddressSanitizer (whose shadow memory and quarantine of freed blocks
    /// they would count).
    func residentBytes() -> Int? {
        #if canImport(Glibc)
        guard dlsym(nil, "__asan_init") == nil else { return nil }
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 256)
        let k = read(fd, &buf, 255)
        guard k > 0 else { return nil }
        let fields = String(decoding: buf[0..<k], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return nil
        #endif
    }

    func findBig(_ s: Snapshot) -> Tree.Found { b("/big").withUnsafeBytes { Tree.find(s.root, $0) } }
}
