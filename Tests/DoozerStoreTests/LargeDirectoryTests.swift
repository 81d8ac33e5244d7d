import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import DoozerStore

final class LargeDirectoryTests: XCTestCase {
    func depth(_ t: Node?) -> Int {
        guard let t else { return 0 }
        return 1 + max(depth(t.left), depth(t.right))
    }

    func testHundredThousandChildren() {
        let n = 100_000
        var rng = SplitMix64(seed: 5)
        var names: [[UInt8]] = []
        names.reserveCapacity(n)
        for i in 0..<n {
            var name = b("f")
            appendDecimal(Int64(i &* 7919 % 1_000_003), to: &name)
            name.append(rng.pick([0x2D, 0x41, 0x61, 0x2E]))
            names.append(name)
        }
        let body = [UInt8](repeating: 0x78, count: 64)
        let before = residentBytes()
        var snap = Snapshot(emptyAt: 1)
        for name in names {
            XCTAssertTrue(snap.insertFile(b("/big/") + name, body: body, rev: 1))
        }
        if let before, let after = residentBytes() {
            let perFile = Double(after - before) / Double(n)
            print("store memory (RSS delta): \(perFile) bytes per 64-byte file")
            XCTAssertLessThan(perFile, 300)
        }
        let sorted = names.sorted(by: bytewiseLess)
        XCTAssertEqual(snap.lookup("/big"), .directory(count: n))
        guard case .node(let dir) = findBig(snap),
              case .directory(let kids) = dir.payload else { return XCTFail() }
        let d = depth(kids)
        print("treap depth for \(n) children: \(d)")
        XCTAssertLessThan(d, 70)

        for _ in 0..<2000 {
            let off = rng.below(n)
            XCTAssertEqual(snap.entry(ofDirectory: "/big", at: off), .name(sorted[off]))
        }
        XCTAssertEqual(snap.entry(ofDirectory: "/big", at: 0), .name(sorted[0]))
        XCTAssertEqual(snap.entry(ofDirectory: "/big", at: n - 1), .name(sorted[n - 1]))
        XCTAssertEqual(snap.entry(ofDirectory: "/big", at: n), .range)

        // Writes and deletes through a store on top of the big tree.
        let s = Store(history: 4, restoring: snap)
        var alive = Set(names)
        for i in stride(from: 0, to: n, by: 97) {
            let p = b("/big/") + names[i]
            XCTAssertNil(s.apply(Mutation.delete(p, rev: -1)).event.error)
            alive.remove(names[i])
        }
        s.apply(Mutation.set(b("/big/zz-new"), rev: 0, body: b("new")))
        alive.insert(b("zz-new"))
        let after = alive.sorted(by: bytewiseLess)
        XCTAssertEqual(s.current.lookup("/big"), .directory(count: after.count))
        for _ in 0..<500 {
            let off = rng.below(after.count)
            XCTAssertEqual(s.current.entry(ofDirectory: "/big", at: off), .name(after[off]))
        }
        // The restored snapshot is untouched.
        XCTAssertEqual(snap.lookup("/big"), .directory(count: n))
        XCTAssertEqual(snap.walk(Glob("/big/" + str(sorted[12345]))!, offset: 0)?.path, b("/big/") + sorted[12345])
        // Prefix pruning: only names starting with "f12" are visited.
        let f12 = sorted.filter { $0.starts(with: b("f12")) && $0.count == 4 }
        XCTAssertEqual(snap.walkAll("/big/f12?"), f12.map { "/big/" + str($0) })
    }

    /// Resident set size from /proc/self/statm (nil where unavailable).
    func residentBytes() -> Int? {
        #if canImport(Glibc)
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
