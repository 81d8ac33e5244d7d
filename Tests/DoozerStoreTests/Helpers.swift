import XCTest
@testable import DoozerStore
import DoozerTestSupport

func b(_ s: String) -> [UInt8] { Array(s.utf8) }
func str(_ a: [UInt8]) -> String { String(decoding: a, as: UTF8.self) }

/// Store ids of the tests' pending watches, by store and test watch number. The store is held
/// weakly so that a new store at a freed one's address starts with no ids.
private final class TestWatches {
    weak var store: Store?
    var ids: [UInt64: WatchID] = [:]
    init(_ store: Store) { self.store = store }
}
nonisolated(unsafe) private var testWatches: [ObjectIdentifier: TestWatches] = [:]

extension Store {
    private var testIDs: TestWatches {
        if let w = testWatches[ObjectIdentifier(self)], w.store === self { return w }
        let w = TestWatches(self)
        testWatches[ObjectIdentifier(self)] = w
        return w
    }
}

extension Store.Applied {
    /// The test watch numbers of the fired watches, in firing order.
    var ids: [UInt64] { fired.map(\.token) }
}

extension Store {
    @discardableResult
    func set(_ path: String, _ body: String, rev: Int64 = -1) -> Store.Applied {
        apply(Mutation.set(path, rev: rev, body: body))
    }
    @discardableResult
    func del(_ path: String, rev: Int64 = -1) -> Store.Applied {
        apply(Mutation.delete(path, rev: rev))
    }
    @discardableResult
    func nop() -> Store.Applied { apply(Mutation.nop) }

    /// WAIT on behalf of the test's watch number `id` (the owner's token); a pending watch's
    /// store id is kept so `cancel(id)` can find it.
    func wait(_ glob: String, from: Int64, id: UInt64) -> WaitResult {
        let r = wait(Glob(glob)!, from: from, owner: WatchOwner(token: id, cookie: 0))
        if case .pending(let watch) = r { testIDs.ids[id] = watch }
        return r
    }

    func cancel(_ id: UInt64) {
        if let watch = testIDs.ids[id] { cancelWait(watch) }
    }

    func snap(_ rev: Int64) -> Snapshot? {
        if case .snapshot(let s) = snapshot(at: rev) { return s }
        return nil
    }
}

extension Snapshot {
    /// Every file, depth-first, as (path, body, rev).
    var files: [(String, String, Int64)] {
        var out: [(String, String, Int64)] = []
        forEachFile(under: "/") { p, bd, r in out.append((str(p), str(bd), r)) }
        return out
    }
    func names(_ dir: String) -> [String] {
        var out: [String] = []
        var i = 0
        while case .name(let n) = entry(ofDirectory: dir, at: i) {
            out.append(str(n))
            i += 1
        }
        return out
    }
    func walkAll(_ glob: String) -> [String] {
        let g = Glob(glob)!
        var out: [String] = []
        var i = 0
        while let h = walk(g, offset: i) {
            out.append(str(h.path))
            i += 1
        }
        return out
    }
}

func bytewiseLess(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }
