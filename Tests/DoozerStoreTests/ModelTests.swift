import XCTest
@testable import DoozerStore
import DoozerTestSupport

/// A deliberately simple reference model: a dictionary path → (body, rev), directories derived.
struct ModelTree {
    var files: [String: (body: String, rev: Int64)] = [:]

    func isDir(_ p: String) -> Bool { p == "/" || files.keys.contains { $0.hasPrefix(p + "/") } }

    func cur(_ p: String) -> Int64 {
        if let f = files[p] { return f.rev }
        return isDir(p) ? -2 : 0
    }

    func ancestorIsFile(_ p: String) -> Bool {
        let parts = p.split(separator: "/")
        var a = ""
        for c in parts.dropLast() {
            a += "/" + c
            if files[a] != nil { return true }
        }
        return false
    }

    /// Returns (event path, error).
    mutating func apply(_ m: String, seqn: Int64) -> (String, MutationError?) {
        if m == "nop:" { return ("/", nil) }
        var err: MutationError? = nil
        var path = ""
        if let colon = m.firstIndex(of: ":") {
            let revPart = String(m[..<colon])
            let rest = String(m[m.index(after: colon)...])
            let eq = rest.firstIndex(of: "=")
            path = eq.map { String(rest[..<$0]) } ?? rest
            let body = eq.map { String(rest[rest.index(after: $0)...]) }
            if let r = Int64(revPart) {
                if !PathSyntax.isValid(path) {
                    err = .badPath
                } else if body != nil && ancestorIsFile(path) {
                    err = .notDirectory
                } else {
                    let c = cur(path)
                    if r != -1 && r < c { err = .revMismatch } else if c == -2 { err = .isDirectory }
                }
            } else {
                err = .badRev
            }
            if err == nil {
                if let body { files[path] = (body, seqn) } else { files[path] = nil }
                return (path, nil)
            }
        } else {
            err = .badMutation
        }
        // Forced /ctl/err write.
        files["/ctl"] = nil
        for k in files.keys where k.hasPrefix("/ctl/err/") { files[k] = nil }
        files["/ctl/err"] = (err!.text, seqn)
        return ("/ctl/err", err)
    }

    static func components(_ p: String) -> [[UInt8]] { p.split(separator: "/").map { Array($0.utf8) } }

    /// Depth-first, each directory bytewise sorted.
    var ordered: [(String, String, Int64)] {
        files.map { ($0.key, $0.value.body, $0.value.rev) }.sorted {
            ModelTree.components($0.0).lexicographicallyPrecedes(ModelTree.components($1.0)) { $0.lexicographicallyPrecedes($1) }
        }
    }

    func children(_ d: String) -> [String]? {
        if files[d] != nil { return nil }
        let pre = d == "/" ? "/" : d + "/"
        var names = Set<String>()
        for k in files.keys where k.hasPrefix(pre) {
            names.insert(String(k.dropFirst(pre.count).split(separator: "/", omittingEmptySubsequences: false)[0]))
        }
        if names.isEmpty && d != "/" { return nil }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    func entry(_ p: String) -> Snapshot.Entry {
        if let f = files[p] { return .file(body: b(f.body), rev: f.rev) }
        if isDir(p) { return .directory(count: children(p)!.count) }
        return .missing
    }
}

final class ModelTests: XCTestCase {
    func same(_ a: [(String, String, Int64)], _ b: [(String, String, Int64)]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 }
    }

    func testRandomOperationsAgainstModel() {
        var rng = SplitMix64(seed: 0xD00_2E4)
        let history = 64
        let s = Store(history: history)
        var model = ModelTree()
        var past: [Int64: ModelTree] = [0: model]
        let comps = ["a", "b", "B", "-", "a.b", "ctl", "err"]
        // Mostly a fixed depth per top-level name (so most writes are legal), sometimes any depth
        // (to provoke NOTDIR/ISDIR and B6).
        func randomPath() -> String {
            let top = rng.below(comps.count)
            let depth = rng.below(8) == 0 ? 1 + rng.below(3) : 1 + top % 3
            var p = "/" + comps[top]
            for _ in 1..<depth { p += "/" + rng.pick(comps) }
            return p
        }
        var created = 0, removed = 0, failed = 0
        var held: [(Snapshot, [(String, String, Int64)])] = []
        let globs = ["/**", "/a/**", "/*", "/*/*", "/a*", "/**/b", "/?", "/b**", "/ctl/err", "/a/?/*"]
        for step in 0..<3000 {
            let p = randomPath()
            let c = model.cur(p)
            let revChoices: [Int64] = [-1, -1, -1, 0, 0, c, c, c - 1, c + 3, -2, -3, Int64(rng.below(Int(s.rev) + 2))]
            let r = rng.pick(revChoices)
            let m: String
            switch rng.below(20) {
            case 0..<10: m = "\(r):\(p)=v\(step)"
            case 10..<16: m = "\(r):\(p)"
            case 16..<18: m = "nop:"
            case 18: m = rng.pick(["1:/a b=x", "zz", "x:/a", "1:/a/", "-1:=q"])
            default: m = "-1:\(p)=\(rng.pick(["", "x=y:z", "\n"]))"
            }
            let seqn = s.rev + 1
            let a = s.apply(b(m))
            let hadFile = model.files[p] != nil
            let (wantPath, wantErr) = model.apply(m, seqn: seqn)
            if wantErr != nil { failed += 1 } else if a.event.kind == .set { created += 1 } else if a.event.kind == .delete && hadFile { removed += 1 }
            XCTAssertEqual(a.event.seqn, seqn)
            XCTAssertEqual(str(a.event.path), wantPath, m)
            XCTAssertEqual(a.event.error, wantErr, m)
            XCTAssertEqual(a.event.mutation, b(m))
            past[seqn] = model
            past[seqn - Int64(history)] = nil

            // The touched path and its parent every step; the whole tree every 10 steps.
            XCTAssertEqual(s.current.lookup(p), model.entry(p), "step \(step): \(m)")
            let parent = String(p[..<p.lastIndex(of: "/")!])
            XCTAssertEqual(s.current.lookup(parent.isEmpty ? "/" : parent), model.entry(parent.isEmpty ? "/" : parent))
            if step % 10 == 0 {
                XCTAssertTrue(same(s.current.files, model.ordered), "step \(step): \(m)")
            }

            // Lookups and GETDIR on random paths.
            for _ in 0..<3 {
                let q = rng.below(8) == 0 ? "/" : randomPath()
                XCTAssertEqual(s.current.lookup(q), model.entry(q), q)
                let off = rng.below(5)
                let got = s.current.entry(ofDirectory: q, at: off)
                if model.files[q] != nil {
                    XCTAssertEqual(got, .notDir)
                } else if let kids = model.children(q) {
                    XCTAssertEqual(got, off < kids.count ? .name(b(kids[off])) : .range, "\(q) @\(off)")
                } else {
                    XCTAssertEqual(got, .noEnt)
                }
            }

            // Snapshots held across later writes never change (the store writes its tree in
            // place only where no snapshot shares it).
            if step % 13 == 0 { held.append((s.current, model.ordered)) }
            if step % 29 == 0 {
                for (snap, want) in held {
                    XCTAssertTrue(same(snap.files, want), "held snapshot \(snap.rev) changed by step \(step)")
                }
                if held.count > 6 { held.removeFirst(held.count - 6) }
            }

            // Old snapshots.
            if step % 9 == 0 {
                let lo = s.oldestRetained
                XCTAssertEqual(lo, max(1, s.rev - Int64(history) + 1))
                let old = lo + Int64(rng.below(Int(s.rev - lo) + 1))
                guard case .snapshot(let snap) = s.snapshot(at: old) else { return XCTFail("rev \(old)") }
                XCTAssertEqual(snap.rev, old)
                XCTAssertTrue(same(snap.files, past[old]!.ordered), "snapshot \(old) at step \(step)")
                if step % 2 == 0 { held.append((snap, past[old]!.ordered)) }
                if lo > 1, case .snapshot = s.snapshot(at: lo - 1) { XCTFail("rev \(lo - 1) should be too late") }
            }

            // WALK against the model.
            if step % 50 == 0 {
                let g = rng.pick(globs)
                let want = model.ordered.map { $0.0 }.filter { referenceGlob(g, $0) }
                XCTAssertEqual(s.current.walkAll(g), want, g)
            }
        }
        // Every retained revision, stepping forward from the oldest (each rebuilt by replaying
        // one event on the previous rebuild) and then back (undoing one).
        let lo = s.oldestRetained
        for r in Array(lo...s.rev) + Array((lo...s.rev).reversed()) {
            guard case .snapshot(let snap) = s.snapshot(at: r) else { return XCTFail("rev \(r)") }
            XCTAssertTrue(same(snap.files, past[r]!.ordered), "snapshot \(r) stepping through history")
        }

        // The run must exercise every branch substantially.
        XCTAssertGreaterThan(created, 400)
        XCTAssertGreaterThan(removed, 100)
        XCTAssertGreaterThan(failed, 300)
        XCTAssertGreaterThan(s.current.files.count, 20)
        print("model run: \(created) sets, \(removed) deletes of files, \(failed) failures, \(s.current.files.count) files left")
    }
}
