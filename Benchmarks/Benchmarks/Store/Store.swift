// The store's state machine without a server: apply, snapshot-at-rev, glob matching, WAIT
// fan-out and lookup. Reads must not allocate (thresholds 0); writes allocate a fixed number of
// objects per apply (new tree nodes, the event's path and body copies), and those counts are
// committed as exact thresholds so that any change shows up.
//
// Work per measured iteration (documented per benchmark below):
//   * apply and WAIT fan-out: ONE apply per iteration (`scalingFactor: .one`), so mallocs are
//     per apply;
//   * snapshot(at:), Glob.matches, lookup: 1,000 calls per iteration (`.kilo`).
import Benchmark
import DoozerStore

// MARK: Fixtures (built on first use, so listing the benchmarks builds nothing)

enum Fixture {
    static let body64 = (0..<64).map { UInt8(ascii: "a") + UInt8($0 % 26) }

    /// `/bench/dNN/fNN`: 100 directories of 100 files.
    static func filePath(_ d: Int, _ f: Int) -> String {
        "/bench/d\(d < 10 ? "0" : "")\(d)/f\(f < 10 ? "0" : "")\(f)"
    }

    /// The file every write benchmark overwrites.
    static let target = filePath(50, 50)

    /// A store of 10,000 files (64-byte bodies) plus a few `/ctl` files, history 2,000 (doozerd's
    /// default), built by 10,004 applies so the history ring is full: later applies only
    /// replace its oldest slot.
    static func makeStore() -> DoozerStore.Store {
        let store = DoozerStore.Store(history: 2000)
        store.apply(Mutation.set("/ctl/name", rev: -1, body: "bench"))
        store.apply(Mutation.set("/ctl/node/7F3A9C2B1D/addr", rev: -1, body: "127.0.0.1:8046"))
        store.apply(Mutation.set("/ctl/cal/0", rev: -1, body: "7F3A9C2B1D"))
        for d in 0..<100 {
            for f in 0..<100 {
                store.apply(Mutation.set(filePath(d, f).utf8, rev: -1, body: body64))
            }
        }
        // A first /ctl/err, so that the failing SET replaces a file instead of creating one.
        store.apply(Mutation.set(target.utf8, rev: 1, body: body64))
        guard store.rev == 10_004, case .file = store.current.lookup(target),
              case .file = store.current.lookup("/ctl/err") else { fatalError("store fixture is wrong") }
        return store
    }

    static let setMutation = Mutation.set(target.utf8, rev: -1, body: body64)
    /// Rev 1 is older than the file's rev: a REV_MISMATCH, written as `/ctl/err`.
    static let failingMutation = Mutation.set(target.utf8, rev: 1, body: body64)
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// A store that one benchmark owns (each benchmark runs in its own process, but one store per
/// benchmark keeps them independent anyway).
final class LazyStore: @unchecked Sendable {
    private var built: DoozerStore.Store?
    var store: DoozerStore.Store {
        if let built { return built }
        let s = Fixture.makeStore()
        built = s
        return s
    }
}

/// N pending WAITs of which N/10 match `Fixture.target`; the others are a mix of globs that
/// share a prefix with it (so the trie walk reaches them and `Glob.matches` rejects them) and
/// globs elsewhere in the tree (never visited).
final class WaitFixture: @unchecked Sendable {
    static let matching = ["/bench/d50/f50", "/bench/d50/*", "/bench/**", "/bench/*/f50", "/**"]
    static let notMatching = ["/bench/d50/f51", "/bench/d50/g*", "/bench/d5?/f51", "/bench/*/f49", "/bench/d50/f5",
                              "/bench/d49/**", "/ctl/**", "/bench/d51/*", "/other/*"]
    let count: Int
    let store: DoozerStore.Store
    /// The matching watches, re-registered (outside the measurement) after each apply fires them.
    let matchingWatches: [(owner: WatchOwner, glob: Glob)]

    init(count: Int) {
        self.count = count
        store = Fixture.makeStore()
        var matchingWatches: [(owner: WatchOwner, glob: Glob)] = []
        for i in 0..<count {
            let owner = WatchOwner(token: UInt64(i), cookie: 0)
            let glob: Glob
            if i % 10 == 0 {
                glob = Glob(Self.matching[(i / 10) % Self.matching.count])!
                matchingWatches.append((owner, glob))
            } else {
                glob = Glob(Self.notMatching[i % Self.notMatching.count])!
            }
            guard case .pending = store.wait(glob, from: store.rev + 1, owner: owner) else { fatalError("watch fired early") }
        }
        self.matchingWatches = matchingWatches
        guard store.pendingWaits == count, matchingWatches.count == count / 10 else { fatalError("watch fixture is wrong") }
    }

    func rearm() {
        let from = store.rev + 1
        for w in matchingWatches {
            guard case .pending = store.wait(w.glob, from: from, owner: w.owner) else { fatalError("watch fired early") }
        }
    }
}

final class LookupFixture: @unchecked Sendable {
    static let entries = 1_000_000
    static func name(_ i: Int) -> String {
        let digits = String(i)
        return "/big/f" + String(repeating: "0", count: 7 - digits.count) + digits
    }
    let snapshot: Snapshot
    let path: [UInt8]

    init() {
        var s = Snapshot(emptyAt: 1)
        for i in 0..<Self.entries {
            s.insertFile(Self.name(i), body: Fixture.body64, rev: 1)
        }
        snapshot = s
        path = Array(Self.name(Self.entries / 2 + 12_345).utf8)
        guard case .directory(count: Self.entries) = s.lookup("/big"), case .file = s.lookup(path) else {
            fatalError("lookup fixture is wrong")
        }
    }
}

let benchmarks: @Sendable () -> Void = {
    // No `.instructions`: it adds ~16 mallocs of the harness per measured iteration (README).
    let metrics: [BenchmarkMetric] = [.mallocCountTotal, .throughput, .wallClock]
    // Exact counts: the threshold files hold the expected value and any change fails.
    let exact = BenchmarkThresholds(absolute: BenchmarkThresholds.Absolute.strict)
    Benchmark.defaultConfiguration = .init(
        metrics: metrics,
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 10_000,
        thresholds: [.mallocCountTotal: exact])
    let perApply = Benchmark.Configuration(
        metrics: metrics, warmupIterations: 10, scalingFactor: .one, maxDuration: .seconds(2),
        maxIterations: 10_000, thresholds: [.mallocCountTotal: exact])

    // MARK: apply

    // SET of an existing file (/bench/d50/f50, 64-byte body, rev -1) in a store of 10,000 files.
    // One apply per iteration.
    let setStore = LazyStore()
    Benchmark("Apply-SET-10k-files", configuration: perApply.with(setup: { _ = setStore.store })) { benchmark in
        let store = setStore.store
        let applied = store.apply(Fixture.setMutation)
        if applied.event.error != nil { fatalError("SET failed") }
        blackHole(applied)
    }

    // SET with a stale rev condition: REV_MISMATCH, recorded as a write of "rev mismatch" to
    // /ctl/err. One apply per iteration.
    let failStore = LazyStore()
    Benchmark("Apply-SET-failing", configuration: perApply.with(setup: { _ = failStore.store })) { benchmark in
        let store = failStore.store
        let applied = store.apply(Fixture.failingMutation)
        if applied.event.error != .revMismatch { fatalError("SET did not fail") }
        blackHole(applied)
    }

    // MARK: snapshot(at:)

    // The snapshot 1,000 revisions back (retained history), once rebuilt: what a WALK or a
    // run of GETs at one old revision costs per request. 1,000 calls per iteration.
    let snapStore = LazyStore()
    Benchmark("Snapshot-at-old-rev", configuration: .init(setup: {
        let store = snapStore.store
        guard case .snapshot(let s) = store.snapshot(at: store.rev - 1000), s.rev == store.rev - 1000 else {
            fatalError("no snapshot")
        }
    })) { benchmark in
        let store = snapStore.store
        let rev = store.rev - 1000
        for _ in benchmark.scaledIterations {
            blackHole(store.snapshot(at: rev))
        }
    }

    // Rebuilding the snapshot 1,000 revisions back from the current tree: 1,000 undos. Each
    // iteration uses a store that has rebuilt nothing yet, so nothing is cached.
    let freshStores = Box<[DoozerStore.Store]>([])
    let rebuildConfiguration = Benchmark.Configuration(
        metrics: metrics, warmupIterations: 2, scalingFactor: .one, maxDuration: .seconds(10),
        maxIterations: 30, thresholds: [.mallocCountTotal: exact])
    Benchmark("Snapshot-rebuild-1000-back", configuration: rebuildConfiguration.with(setup: {
        freshStores.value = (0..<32).map { _ in Fixture.makeStore() }
    })) { benchmark in
        let store = freshStores.value.removeLast()
        let rev = store.rev - 1000
        benchmark.startMeasurement()
        let snapshot = store.snapshot(at: rev)
        benchmark.stopMeasurement()
        guard case .snapshot(let s) = snapshot, s.rev == rev else { fatalError("no snapshot") }
        blackHole(s)
    }

    // Stepping back through history one revision per call (a client reading each older
    // revision in turn): one undo from the previous call's cached rebuild.
    let stepStore = LazyStore()
    let stepRev = Box<Int64>(0)
    let stepConfiguration = Benchmark.Configuration(   // a fixed number of steps, so a fixed set of revisions
        metrics: metrics, warmupIterations: 10, scalingFactor: .one, maxDuration: .seconds(30),
        maxIterations: 1_000, thresholds: [.mallocCountTotal: exact])
    Benchmark("Snapshot-step-back", configuration: stepConfiguration.with(setup: {
        stepRev.value = stepStore.store.rev - 1
    })) { benchmark in
        let store = stepStore.store
        if stepRev.value < store.oldestRetained { stepRev.value = store.rev - 1 }
        guard case .snapshot(let s) = store.snapshot(at: stepRev.value) else { fatalError("no snapshot") }
        stepRev.value -= 1
        blackHole(s)
    }

    // MARK: Glob.matches (1,000 calls per iteration, each a matching path)

    func globMatch(_ name: String, _ pattern: String, _ path: String) {
        let glob = Glob(pattern)!
        let bytes = Array(path.utf8)
        Benchmark(name, configuration: .init(setup: {
            guard glob.matches(bytes) else { fatalError("\(pattern) does not match \(path)") }
        })) { benchmark in
            bytes.withUnsafeBytes { p in
                for _ in benchmark.scaledIterations {
                    blackHole(glob.matches(p))
                }
            }
        }
    }
    let nodeAddr = "/ctl/node/7F3A9C2B1D/addr"
    globMatch("Glob-literal", nodeAddr, nodeAddr)
    globMatch("Glob-star", "/ctl/node/*/addr", nodeAddr)
    globMatch("Glob-doublestar-prefix", "/ctl/**", nodeAddr)   // literal prefix + `**`: prefix test
    globMatch("Glob-doublestar-nfa", "/**/addr", nodeAddr)     // general NFA

    // MARK: WAIT fan-out

    // N pending WAITs, N/10 matching the written path; the cost of the one apply (a SET of
    // /bench/d50/f50) that fires them. The fired watches are re-registered before each
    // iteration, outside the measured window (startMeasurement/stopMeasurement).
    func fanOut(_ name: String, _ count: Int) {
        let fixture = Box<WaitFixture?>(nil)
        Benchmark(name, configuration: perApply.with(setup: { fixture.value = WaitFixture(count: count) })) { benchmark in
            let f = fixture.value!
            if f.store.pendingWaits != f.count { f.rearm() }
            benchmark.startMeasurement()
            let applied = f.store.apply(Fixture.setMutation)
            benchmark.stopMeasurement()
            if applied.fired.count != count / 10 { fatalError("fired \(applied.fired.count), expected \(count / 10)") }
            blackHole(applied)
        }
    }
    fanOut("WAIT-fanout-100", 100)
    fanOut("WAIT-fanout-10k", 10_000)

    // MARK: lookup

    // Snapshot.lookup of one file in a directory of 1,000,000 files. 1,000 calls per iteration.
    let lookup = Box<LookupFixture?>(nil)
    Benchmark("Lookup-1M-dir", configuration: .init(maxDuration: .seconds(2), setup: { lookup.value = LookupFixture() })) { benchmark in
        let f = lookup.value!
        f.path.withUnsafeBytes { p in
            for _ in benchmark.scaledIterations {
                blackHole(f.snapshot.lookup(p))
            }
        }
    }
}

extension Benchmark.Configuration {
    func with(setup: @escaping Benchmark.BenchmarkSetupHook) -> Benchmark.Configuration {
        var c = self
        c.setup = setup
        return c
    }
}
