import DoozerHistory
import DoozerTestSupport
import XCTest

/// Histories generated on the real store are accepted; each one mutated in one answer so that
/// it is certainly wrong is rejected by the check the mutation targets.
final class GeneratedHistoryTests: XCTestCase {
    private static let seeds: ClosedRange<UInt64> = 1...30
    private let stale = DoozerChecks.Options(linearizableReads: false)

    /// Shapes that vary with the seed: paths, clients, how often answers are lost.
    private func generator(_ seed: UInt64) -> HistoryGenerator {
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        var g = HistoryGenerator()
        g.paths = 1 + rng.below(5)
        g.clients = 2 + rng.below(5)
        g.lostPerMille = rng.pick([0, 20, 100])
        return g
    }

    func testGeneratedHistoriesAreAccepted() {
        for seed in Self.seeds {
            let run = generator(seed).generate(seed: seed)
            assertValid(DoozerChecks.check(run.history, final: run.views))
            assertValid(DoozerChecks.check(run.history, final: run.views, options: stale))
        }
    }

    /// Reads answered by a node that lags (but never behind what its session saw) are fine when
    /// reads need not be linearizable, and are noticed when they must be.
    func testLaggingReadsAreAcceptedOnlyWithoutLinearizableReads() {
        var rejected = 0
        for seed in Self.seeds {
            var g = generator(seed)
            g.laggingReads = true
            let run = g.generate(seed: seed)
            assertValid(DoozerChecks.check(run.history, final: run.views, options: stale))
            if !DoozerChecks.check(run.history, final: run.views).isValid { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, Self.seeds.count / 2)
    }

    func testAStaleReadIsRejected() {
        assertMutantsRejected(.linearizability, options: .init()) { h, _ in Mutations.staleRead(&h) }
        assertMutantsRejected(.readsAtRevisions, options: stale) { h, _ in Mutations.staleRead(&h) }
    }

    func testAReadWithAnotherRevisionIsRejected() {
        assertMutantsRejected(.linearizability, options: .init()) { h, _ in Mutations.wrongFileRev(&h) }
        assertMutantsRejected(.readsAtRevisions, options: stale) { h, _ in Mutations.wrongFileRev(&h) }
    }

    func testALostWriteIsRejected() {
        assertMutantsRejected(.finalState, options: stale) { h, views in Mutations.lostWrite(h, &views) }
    }

    func testAWriteReorderedAgainstRealTimeIsRejected() {
        assertMutantsRejected(.revisions, options: stale) { h, _ in Mutations.reorderedWrite(&h) }
    }

    func testAFailedWriteThatWasReadIsRejected() {
        assertMutantsRejected(.failedWrites, options: stale) { h, _ in Mutations.failedButRead(&h) }
    }

    func testAReadOlderThanTheSessionsWriteIsRejected() {
        assertMutantsRejected(.readYourWrites, options: stale) { h, _ in Mutations.olderThanOwnWrite(&h) }
    }

    func testASnapshotReadOfALaterVersionIsRejected() {
        assertMutantsRejected(.readsAtRevisions, options: stale) { h, _ in Mutations.laterSnapshot(&h) }
    }

    /// Over the seeds, every mutation that applies is rejected by `expected` (among others),
    /// and it applies often enough to mean something.
    private func assertMutantsRejected(_ expected: Check, options: DoozerChecks.Options,
                                       file: StaticString = #filePath, line: UInt = #line,
                                       _ mutate: (inout [ClientOp], inout [StoreView]) -> Bool) {
        var applied = 0
        for seed in Self.seeds {
            var run = generator(seed).generate(seed: seed)
            guard mutate(&run.history, &run.views) else { continue }
            applied += 1
            let report = DoozerChecks.check(run.history, final: run.views, options: options)
            XCTAssertTrue(checks(report).contains(expected), "seed \(seed): \(report)", file: file, line: line)
        }
        XCTAssertGreaterThanOrEqual(applied, Self.seeds.count / 2, "too few histories had a place for the mutation",
                                    file: file, line: line)
    }
}

/// One-answer mutations that make a right history certainly wrong; each returns false when the
/// history has no place for it.
enum Mutations {
    /// A plain GET answers the version of a SET that another acknowledged SET overwrote, both
    /// finished before the GET was invoked.
    static func staleRead(_ h: inout [ClientOp]) -> Bool {
        for r in h.indices.reversed() {
            guard case .get(nil) = h[r].request, case .returned(.found, let at) = h[r].outcome else { continue }
            let sets = acknowledgedSets(h, path: h[r].path).filter { answered(h[$0]) < h[r].invoked }
            for w2 in sets {
                if let w1 = sets.first(where: { answered(h[$0]) < h[w2].invoked }) {
                    h[r].outcome = .returned(.found(version(h[w1])), at: at)
                    return true
                }
            }
        }
        return false
    }

    /// A plain GET of a version written by an acknowledged SET answers a rev one higher.
    static func wrongFileRev(_ h: inout [ClientOp]) -> Bool {
        let acked = Set(h.filter(isAcknowledgedSet).map(version))
        guard let r = h.indices.first(where: { i in
            guard case .get(nil) = h[i].request, case .returned(.found(let v), _) = h[i].outcome else { return false }
            return acked.contains(v)
        }), case .returned(.found(let v), let at) = h[r].outcome else { return false }
        h[r].outcome = .returned(.found(Version(v.body, rev: v.rev + 1)), at: at)
        return true
    }

    /// Both final views hold, for a path last written by an acknowledged SET, an earlier
    /// acknowledged SET's version.
    static func lostWrite(_ h: [ClientOp], _ views: inout [StoreView]) -> Bool {
        for (path, last) in views[0].files.sorted(by: { $0.key < $1.key }) {
            let sets = acknowledgedSets(h, path: path)
            guard sets.contains(where: { version(h[$0]) == last }),
                  let earlier = sets.first(where: { version(h[$0]).rev < last.rev }) else { continue }
            for v in views.indices { views[v].files[path] = version(h[earlier]) }
            return true
        }
        return false
    }

    /// An acknowledged SET invoked after another was acknowledged gets that one's revision.
    static func reorderedWrite(_ h: inout [ClientOp]) -> Bool {
        let sets = h.indices.filter { isAcknowledgedSet(h[$0]) }
        for b in sets.reversed() {
            guard let a = sets.first(where: { answered(h[$0]) < h[b].invoked }) else { continue }
            h[b].outcome = .returned(.written(rev: version(h[a]).rev), at: answered(h[b]))
            return true
        }
        return false
    }

    /// A SET whose body some GET read is answered REV_MISMATCH instead.
    static func failedButRead(_ h: inout [ClientOp]) -> Bool {
        var read: Set<Body> = []
        for op in h {
            if case .returned(.found(let v), _) = op.outcome, v.rev > 0 { read.insert(v.body) }
        }
        guard let w = h.indices.first(where: { i in
            if case .set(let body, _) = h[i].request { return read.contains(body) }
            return false
        }) else { return false }
        h[w].outcome = .returned(.revMismatch, at: h[w].outcome.completed ?? h[w].invoked + 1)
        return true
    }

    /// A session's plain GET, invoked after its own SET of the path was acknowledged, answers
    /// an older acknowledged SET's version.
    static func olderThanOwnWrite(_ h: inout [ClientOp]) -> Bool {
        for w in h.indices {
            guard case .returned(.written(let rev), let at) = h[w].outcome,
                  let older = acknowledgedSets(h, path: h[w].path).first(where: { version(h[$0]).rev < rev }),
                  let r = h.indices.first(where: { i in
                      guard case .get(nil) = h[i].request, case .returned(.found, _) = h[i].outcome else { return false }
                      return h[i].session == h[w].session && h[i].path == h[w].path && h[i].invoked > at
                  }), case .returned(_, let readAt) = h[r].outcome else { continue }
            h[r].outcome = .returned(.found(version(h[older])), at: readAt)
            return true
        }
        return false
    }

    /// A GET at a revision answers a version an acknowledged SET wrote after that revision.
    static func laterSnapshot(_ h: inout [ClientOp]) -> Bool {
        for r in h.indices {
            guard case .get(let rev?) = h[r].request, case .returned(.found, let at) = h[r].outcome,
                  let later = acknowledgedSets(h, path: h[r].path).first(where: { version(h[$0]).rev > max(rev, 1) })
            else { continue }
            h[r].outcome = .returned(.found(version(h[later])), at: at)
            return true
        }
        return false
    }

    /// The acknowledged SETs of a path, in history order.
    private static func acknowledgedSets(_ h: [ClientOp], path: String) -> [Int] {
        h.indices.filter { h[$0].path == path && isAcknowledgedSet(h[$0]) }
    }

    private static func isAcknowledgedSet(_ op: ClientOp) -> Bool {
        if case .returned(.written, _) = op.outcome { return true }
        return false
    }

    /// What an acknowledged SET wrote.
    private static func version(_ op: ClientOp) -> Version {
        guard case .set(let body, _) = op.request, case .returned(.written(let rev), _) = op.outcome else {
            preconditionFailure("not an acknowledged SET: \(op)")
        }
        return Version(body, rev: rev)
    }

    private static func answered(_ op: ClientOp) -> Int64 { op.outcome.completed ?? .max }
}
