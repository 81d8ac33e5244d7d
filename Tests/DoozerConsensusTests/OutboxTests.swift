import DoozerConsensus
import XCTest

/// The outbox's two rules, one case each: persist before send, and durable at a quorum before
/// applied, with the vote elision and the order of everything it releases.
final class OutboxTests: XCTestCase {
    /// A log that keeps records in memory and is durable through whatever the test says.
    final class MemoryLog: OutboxLog {
        enum Record: Equatable { case change(DurableChange), decided(DecidedEntry) }
        var records: [Record] = []
        var durableIndex: UInt64 = 0
        var lastIndex: UInt64 { UInt64(records.count) }

        func append(_ change: DurableChange) -> UInt64 {
            records.append(.change(change))
            return lastIndex
        }

        func append(_ entry: DecidedEntry) -> UInt64 {
            records.append(.decided(entry))
            return lastIndex
        }
    }

    private let peer = PeerID(raw: 7)
    private let ballot = Ballot(round: 1, leader: PeerID(raw: 1))
    private func message(_ n: Int64) -> Message { .commit(ballot: ballot, upTo: n) }
    private func vote(_ instance: Int64) -> DurableChange {
        .vote(AcceptedEntry(instance: instance, ballot: ballot, batch: []))
    }

    private func take(_ outbox: inout Outbox, _ outputs: [Output], _ log: MemoryLog?) -> [Outbox.Effect] {
        var effects: [Outbox.Effect] = []
        for output in outputs { outbox.take(output, log: log, into: &effects) }
        return effects
    }

    /// The log became durable through `index`: what the outbox releases.
    private func sync(_ outbox: inout Outbox, _ log: MemoryLog, through index: UInt64) -> [Outbox.Effect] {
        log.durableIndex = index
        var effects: [Outbox.Effect] = []
        outbox.synced(through: index, into: &effects)
        return effects
    }

    func testAMemoryOnlyNodeSendsAndAppliesAtOnce() {
        var outbox = Outbox(durable: false)
        let effects = take(&outbox, [.send(to: peer, message(1)), .decided(instance: 1, batch: [], durableElsewhere: false)], nil)
        XCTAssertEqual(effects, [.send(to: peer, message(1)), .apply(instance: 1, batch: [], record: 0)])
        XCTAssertFalse(outbox.waitsForSync)
    }

    func testMessagesAfterAChangeWaitForItsSyncAndKeepTheirOrder() {
        let log = MemoryLog()
        var outbox = Outbox(durable: true)
        let first = take(&outbox, [.send(to: peer, message(1)), .persist(.promise(ballot)), .send(to: peer, message(2))], log)
        XCTAssertEqual(first, [.send(to: peer, message(1))], "a message before any change leaves at once")
        outbox.seal(decided: 0, log: log)
        XCTAssertEqual(log.records, [.change(.promise(ballot))])
        // The next pump has no change of its own, but its message must not overtake the held one.
        XCTAssertEqual(take(&outbox, [.send(to: peer, message(3))], log), [])
        outbox.seal(decided: 0, log: log)
        XCTAssertTrue(outbox.waitsForSync)
        XCTAssertEqual(sync(&outbox, log, through: 0), [], "nothing leaves before the change is durable")
        XCTAssertEqual(sync(&outbox, log, through: 1), [.send(to: peer, message(2)), .send(to: peer, message(3))])
        XCTAssertFalse(outbox.waitsForSync)
    }

    func testABatchDurableElsewhereIsAppliedAtOnceButNotBeforeOneThatWaits() {
        let log = MemoryLog()
        var outbox = Outbox(durable: true)
        XCTAssertEqual(take(&outbox, [.decided(instance: 1, batch: [], durableElsewhere: true)], log),
                       [.apply(instance: 1, batch: [], record: 1)])
        // Instance 2 counts this node's vote (never recorded here): it waits for its own record;
        // instance 3, durable elsewhere, waits behind it.
        XCTAssertEqual(take(&outbox, [.decided(instance: 2, batch: [], durableElsewhere: false),
                                      .decided(instance: 3, batch: [], durableElsewhere: true)], log), [])
        XCTAssertEqual(sync(&outbox, log, through: 1), [])
        XCTAssertEqual(sync(&outbox, log, through: 2), [.apply(instance: 2, batch: [], record: 2), .apply(instance: 3, batch: [], record: 3)])
    }

    func testADecisionCountingTheOwnVoteWaitsForTheVoteAndHoldsLaterMessages() {
        let log = MemoryLog()
        var outbox = Outbox(durable: true)
        _ = take(&outbox, [.persist(vote(1)), .send(to: peer, message(1))], log)
        outbox.seal(decided: 0, log: log)   // the vote is record 1
        XCTAssertEqual(sync(&outbox, log, through: 1), [.send(to: peer, message(1))])
        // Decided with the own vote, already durable: applied at once; a message after it
        // (a commit announcement, say) waits for the decided record.
        XCTAssertEqual(take(&outbox, [.decided(instance: 1, batch: [], durableElsewhere: false),
                                      .send(to: peer, message(2))], log),
                       [.apply(instance: 1, batch: [], record: 2)])
        outbox.seal(decided: 1, log: log)
        XCTAssertEqual(sync(&outbox, log, through: 1), [])
        XCTAssertEqual(sync(&outbox, log, through: 2), [.send(to: peer, message(2))])
    }

    func testAVoteForAnInstanceDecidedInTheSamePumpIsNotWritten() {
        let log = MemoryLog()
        var outbox = Outbox(durable: true)
        XCTAssertEqual(take(&outbox, [.persist(vote(1)), .decided(instance: 1, batch: [], durableElsewhere: false)], log), [])
        outbox.seal(decided: 1, log: log)
        XCTAssertEqual(log.records, [.decided(DecidedEntry(instance: 1, batch: []))], "the decided record supersedes the vote")
        XCTAssertEqual(sync(&outbox, log, through: 1), [.apply(instance: 1, batch: [], record: 1)])
    }

    /// Before installing a member's state, the host applies the batches it holds (the member
    /// applied them): each of its own writes among them is answered, none lost track of.
    func testReleaseHandsBackEveryHeldBatchThroughAnInstanceWhateverItWaitsFor() {
        let log = MemoryLog()
        var outbox = Outbox(durable: true)
        _ = take(&outbox, [.decided(instance: 1, batch: [], durableElsewhere: false),
                           .decided(instance: 2, batch: [], durableElsewhere: true),
                           .decided(instance: 3, batch: [], durableElsewhere: true)], log)
        var effects: [Outbox.Effect] = []
        outbox.release(through: 2, into: &effects)
        XCTAssertEqual(effects, [.apply(instance: 1, batch: [], record: 1), .apply(instance: 2, batch: [], record: 2)])
        XCTAssertEqual(sync(&outbox, log, through: 3), [.apply(instance: 3, batch: [], record: 3)])
    }

    func testAnInstallSupersedesHeldBatchesAndHoldsWhatFollowsUntilItsRecordIsDurable() {
        let log = MemoryLog()
        var outbox = Outbox(durable: true)
        _ = take(&outbox, [.decided(instance: 1, batch: [], durableElsewhere: false),
                           .decided(instance: 2, batch: [], durableElsewhere: true)], log)
        log.records.append(.change(.seqReserved(0)))   // the install's record, say
        outbox.install(through: 5, record: log.lastIndex)
        XCTAssertEqual(take(&outbox, [.send(to: peer, message(1)), .decided(instance: 6, batch: [], durableElsewhere: true)], log), [],
                       "nothing after the install takes effect before its record is durable")
        outbox.seal(decided: 6, log: log)
        XCTAssertTrue(outbox.waitsForSync)
        XCTAssertEqual(sync(&outbox, log, through: 2), [])
        XCTAssertEqual(sync(&outbox, log, through: 4),
                       [.install(through: 5), .apply(instance: 6, batch: [], record: 4), .send(to: peer, message(1))],
                       "batches 1 and 2 are superseded")
    }
}
