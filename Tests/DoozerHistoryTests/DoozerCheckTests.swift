import DoozerHistory
import XCTest

/// Hand-written doozer histories, right and wrong, each wrong one caught by exactly the checks
/// expected.
final class DoozerCheckTests: XCTestCase {
    private let stale = DoozerChecks.Options(linearizableReads: false)

    // MARK: Right histories

    /// Every row of the conditional-write table, failed writes consuming revisions, snapshot
    /// reads (rev 0 reading as 1) and a final view.
    func testDoozerSemanticsAreAccepted() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.get(2...3, "a", rev: 1, storeRev: 1)
        s.refusedSet("b", cond: 0, 4...5)                // exists: create-only fails (rev 2)
        s.set("c", cond: 1, 6...7, rev: 3)               // cond = file rev
        s.get(8...9, "c", rev: 3)
        s.del(cond: 3, 10...11)                          // rev 4
        s.getMissing(12...13, storeRev: 4)
        s.set("d", cond: 0, 14...15, rev: 5)             // missing: create-only works
        s.refusedSet("e", cond: -2, 16...17)             // rev 6
        s.del(cond: -2, 18...19, .revMismatch)           // rev 7
        s.set("f", cond: 100, 20...21, rev: 8)           // cond above the file rev
        s.refusedSet("g", cond: 7, 22...23)              // cond below it (rev 9)
        s.get(24...25, "a", rev: 1, at: 1)
        s.get(24...25, "a", rev: 1, at: 0)
        s.getMissing(24...25, at: 4)
        s.get(24...25, "d", rev: 5, at: 7)
        s.get(24...25, "f", rev: 8, at: 9)
        assertValid(s.check(final: [view(["/k": Version("f", rev: 8)])]))
    }

    func testDeletingAMissingFileSucceeds() {
        var s = Script()
        s.del(cond: 0, 0...1)
        s.del(cond: -1, 2...3)
        s.del(cond: 7, 4...5)
        s.getMissing(6...7)
        s.del(cond: -2, 8...9, .revMismatch)
        assertValid(s.check(final: [view([:])]))
    }

    func testConcurrentWritesMayBeReadInEitherOrder() {
        var s = Script()
        s.set("a", 0...10, rev: 2, session: 1)
        s.set("b", 0...10, rev: 1, session: 2)
        s.get(1...2, "b", rev: 1, session: 3)
        s.get(3...4, "a", rev: 2, session: 3)
        assertValid(s.check(final: [view(["/k": Version("a", rev: 2)])]))
    }

    func testAnUnknownWriteThatHappenedIsFine() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.lostSet("b", from: 2)
        s.get(10...11, "b", rev: 5, session: 2)
        s.get(12...13, "b", rev: 5, at: 5, session: 2)
        s.set("c", 14...15, rev: 6, session: 2)
        assertValid(s.check(final: [view(["/k": Version("c", rev: 6)])]))
    }

    func testAnUnknownWriteThatNeverHappenedIsFine() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.lostSet("b", from: 2)
        s.lostDel(from: 3)
        s.get(10...11, "a", rev: 1, session: 2)
        assertValid(s.check(final: [view(["/k": Version("a", rev: 1)])]))
    }

    func testAnUnknownWriteMayShowUpOnlyInTheFinalState() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.lostSet("b", from: 2)
        s.get(10...11, "a", rev: 1, session: 2)
        assertValid(s.check(final: [view(["/k": Version("b", rev: 9)])]))
    }

    func testAnUnknownDeleteMayLeaveTheFileMissing() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.lostDel(from: 2)
        s.getMissing(10...11, session: 2)
        assertValid(s.check(final: [view([:])]))
    }

    /// A node behind the others answers a plain GET from an older revision: fine when reads
    /// need not be linearizable, as long as the session never sees older than it saw or wrote.
    func testLaggingReadsAreFineWhenReadsNeedNotBeLinearizable() {
        var s = Script()
        s.set("a", 0...1, rev: 1, session: 1)
        s.set("b", 2...3, rev: 2, session: 1)
        s.get(4...5, "a", rev: 1, storeRev: 1, session: 2)
        s.get(6...7, "b", rev: 2, storeRev: 2, session: 2)
        assertValid(s.check(stale))
        assertViolates(s.check(), [.linearizability])
    }

    // MARK: Wrong histories

    func testAStaleReadIsCaught() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.set("b", 2...3, rev: 2)
        s.get(4...5, "a", rev: 1, session: 2)
        let report = s.check()
        assertViolates(report, [.linearizability])
        XCTAssertEqual(report.violations[0].path, "/k")
        XCTAssertEqual(report.violations[0].operations.first, 2)
        XCTAssertTrue(report.description.contains("#2 s2 [4, 5] get /k -> found \"a\"@1"), report.description)
    }

    func testAStaleReadAtARecordedRevisionIsCaughtWithoutLinearizableReads() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.set("b", 2...3, rev: 2)
        s.get(4...5, "a", rev: 1, storeRev: 2, session: 2)
        assertViolates(s.check(stale), [.readsAtRevisions])
    }

    func testALostWriteIsCaughtInTheFinalState() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.set("b", 2...3, rev: 2)
        assertViolates(s.check(final: [view(["/k": Version("a", rev: 1)])]), [.finalState])
        assertViolates(s.check(final: [view([:])]), [.finalState])
        s.lostDel(from: 4)
        assertValid(s.check(final: [view([:])]))
    }

    func testNodesThatDisagreeAreCaught() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.lostDel(from: 4)
        let report = s.check(final: [view(["/k": Version("a", rev: 1)]), view([:], name: "n2")])
        assertViolates(report, [.finalState])
        XCTAssertEqual(report.violations.map(\.lines[0]), ["nodes disagree on /k: n1 \"a\"@1, n2 missing"])
    }

    func testAWriteReorderedAgainstRealTimeIsCaught() {
        var s = Script()
        s.set("a", 0...1, rev: 5, path: "/a")
        s.set("b", 2...3, rev: 4, path: "/b", session: 2)
        assertViolates(s.check(), [.revisions])
    }

    func testTwoWritesAtOneRevisionAreCaught() {
        var s = Script()
        s.set("a", 0...1, rev: 3, path: "/a")
        s.set("b", 0...1, rev: 3, path: "/b", session: 2)
        assertViolates(s.check(), [.revisions])
    }

    func testACompareAndSetThatSucceedsTwiceFromOneBaseIsCaught() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.set("b", cond: 1, 2...10, rev: 2)
        s.set("c", cond: 1, 2...10, rev: 3, session: 2)
        assertViolates(s.check(), [.linearizability])
    }

    func testConditionsAreEnforced() {
        var createOnExisting = Script()
        createOnExisting.set("a", 0...1, rev: 1)
        createOnExisting.set("b", cond: 0, 2...3, rev: 2)
        assertViolates(createOnExisting.check(), [.linearizability])

        var belowFileRev = Script()
        belowFileRev.set("a", 0...1, rev: 5)
        belowFileRev.set("b", cond: 4, 2...3, rev: 6)
        assertViolates(belowFileRev.check(), [.linearizability])

        var refusedAtFileRev = Script()
        refusedAtFileRev.set("a", 0...1, rev: 5)
        refusedAtFileRev.refusedSet("b", cond: 5, 2...3)
        assertViolates(refusedAtFileRev.check(), [.linearizability])

        var minusTwo = Script()
        minusTwo.del(cond: -2, 0...1)
        assertViolates(minusTwo.check(), [.linearizability])
    }

    func testAWriteRefusedWithAnErrorMustNotBeApplied() {
        for reply: ClientOp.Reply in [.revMismatch, .failed("READONLY")] {
            var s = Script()
            s.set("a", 0...1, rev: 1)
            s.refusedSet("x", cond: 0, 2...3, reply)
            s.get(4...5, "x", rev: 2, session: 2)
            assertViolates(s.check(), [.failedWrites, .linearizability, .readsAtRevisions])
            s.history.removeLast()
            assertViolates(s.check(final: [view(["/k": Version("x", rev: 2)])]), [.failedWrites, .finalState])
        }
    }

    func testAnUnknownWriteCannotTakeARevisionBeforeOneAcknowledgedEarlier() {
        var s = Script()
        s.set("a", 0...1, rev: 4)
        s.lostSet("b", from: 2)
        s.get(5...6, "b", rev: 3, session: 2)
        assertViolates(s.check(), [.linearizability, .readsAtRevisions])
        assertViolates(s.check(final: [view(["/k": Version("b", rev: 3)])]), [.linearizability, .readsAtRevisions, .finalState])
    }

    func testAnUnknownCreateOnlyWriteCannotApplyOverAFile() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.lostSet("b", cond: 0, from: 2)
        s.get(5...6, "b", rev: 3, session: 2)
        assertViolates(s.check(), [.linearizability])
    }

    func testReadYourWritesIsCheckedPerSession() {
        var afterSet = Script()
        afterSet.set("a", 0...1, rev: 1, session: 2)
        afterSet.set("b", 2...3, rev: 2, session: 1)
        afterSet.get(4...5, "a", rev: 1, session: 1)
        assertViolates(afterSet.check(stale), [.readYourWrites])
        assertViolates(afterSet.check(), [.readYourWrites, .linearizability])

        var missing = Script()
        missing.set("a", 0...1, rev: 1)
        missing.getMissing(2...3)
        assertViolates(missing.check(stale), [.readYourWrites])
        missing.lostDel(from: 0, session: 2)
        assertValid(missing.check(stale))

        var afterDel = Script()
        afterDel.set("a", 0...1, rev: 1, session: 2)
        afterDel.del(2...3)
        afterDel.get(4...5, "a", rev: 1)
        assertViolates(afterDel.check(stale), [.readYourWrites])
    }

    func testMonotonicReadsAreCheckedPerSession() {
        var fileRevs = Script()
        fileRevs.set("a", 0...1, rev: 1, session: 2)
        fileRevs.set("b", 2...3, rev: 2, session: 2)
        fileRevs.get(4...5, "b", rev: 2)
        fileRevs.get(6...7, "a", rev: 1)
        assertViolates(fileRevs.check(stale), [.monotonicReads])

        var storeRevs = Script()
        storeRevs.set("a", 0...1, rev: 1, session: 2)
        storeRevs.get(4...5, "a", rev: 1, storeRev: 3)
        storeRevs.get(6...7, "a", rev: 1, storeRev: 2)
        assertViolates(storeRevs.check(stale), [.monotonicReads])
    }

    func testSnapshotReadsMustMatchTheirRevision() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.set("b", 2...3, rev: 2)
        s.get(4...5, "a", rev: 1, at: 1)
        s.get(4...5, "b", rev: 2, at: 2)
        assertValid(s.check())
        s.get(4...5, "b", rev: 2, at: 1)
        s.get(4...5, "a", rev: 1, at: 3)
        let report = s.check()
        assertViolates(report, [.readsAtRevisions])
        XCTAssertEqual(report.violations.map(\.operations.first), [4, 5])
    }

    func testASnapshotReadMayRevealAnUnknownWrite() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.lostSet("b", from: 2)
        s.get(20...21, "b", rev: 5, at: 10)
        assertValid(s.check())
        s.get(20...21, "b", rev: 5, at: 4)
        assertViolates(s.check(), [.readsAtRevisions])
    }

    func testASnapshotReadMissesAFileOnlyWhereADeleteMayBe() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        s.del(2...3)
        s.set("c", 4...5, rev: 5)
        s.getMissing(6...7, at: 3)
        assertValid(s.check())
        s.getMissing(6...7, at: 1)
        assertViolates(s.check(), [.readsAtRevisions])
    }

    func testAReadFromTheFutureIsCaught() {
        var s = Script()
        s.get(0...1, "a", rev: 5, session: 1)
        s.set("a", 2...3, rev: 5, session: 2)
        assertViolates(s.check(), [.readsAtRevisions, .linearizability])
    }

    func testMalformedAnswersAreReported() {
        var s = Script()
        s.history.append(ClientOp(session: 1, path: "/k", .get(), invoked: 0, outcome: .returned(.written(rev: 1), at: 1)))
        s.history.append(ClientOp(session: 1, path: "/k", .set("a", cond: -1), invoked: 5, outcome: .returned(.written(rev: 1), at: 4)))
        s.get(6...7, "x", rev: 0)
        let report = s.check()
        XCTAssertEqual(report.violations.filter { $0.check == .wellFormed }.map(\.operations), [[0], [1], [2]])
    }

    /// Twenty-five concurrent DELs refused with REV_MISMATCH (each leaving the file as it was)
    /// and a read of the file missing: the exact search tries every subset of the DELs before
    /// it could say no, runs out of budget and says so.
    func testAPathologicalHistoryIsUndecidedNotHung() {
        var s = Script()
        s.set("a", 0...1, rev: 1)
        for session in 1...25 { s.del(cond: 0, 2...100, .revMismatch, session: session) }
        s.getMissing(2...100, session: 99)
        let report = s.check(DoozerChecks.Options(budget: 5_000))
        XCTAssertTrue(report.isValid, report.description)
        XCTAssertEqual(report.undecided.map(\.path), ["/k"])
        XCTAssertTrue(report.description.contains("undecided (budget spent)"), report.description)
    }

    /// Writes of unknown outcome make the exact search exponential; when it runs out of budget,
    /// the search that lets them take effect any number of times still refutes the history.
    func testManyLostWritesDoNotHideAStaleRead() {
        var s = Script()
        for v in 1...25 { s.lostSet(Body("v\(v)"), from: 0, session: v) }
        s.set("a", 1...2, rev: 30, session: 99)
        s.set("b", 3...4, rev: 31, session: 99)
        s.get(5...6, "a", rev: 30, session: 100)
        let report = s.check(DoozerChecks.Options(budget: 5_000))
        assertViolates(report, [.linearizability])
        XCTAssertTrue(report.undecided.isEmpty, report.description)
    }
}
