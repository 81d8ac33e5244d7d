import DoozerConsensus
import XCTest

/// Durable consensus state (`ConsensusOptions.durable`): what is persisted, in what order
/// relative to the messages that depend on it, how it is encoded, and how a restart uses it.
final class DurableStateTests: XCTestCase {
    let me = PeerID(nodeID: Array("AAAAAAAAAAAAAAAA".utf8))
    let other = PeerID(nodeID: Array("BBBBBBBBBBBBBBBB".utf8))

    private var durableOptions: ConsensusOptions {
        var options = ConsensusOptions()
        options.durable = true
        options.seqReservation = 4
        return options
    }

    func testAPromiseIsPersistedBeforeTheReplyThatMakesIt() throws {
        let bootstrap = Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: [me, other])], watermarks: [:])
        var c = Consensus(me: me, options: durableOptions, bootstrap: bootstrap, now: 0, seed: 1)
        let ballot = Ballot(round: 7, leader: other)
        c.receive(.prepare(ballot: ballot, from: 1), from: other, now: 1)
        let outputs = c.takeOutputs()
        let persisted = try XCTUnwrap(outputs.firstIndex(of: .persist(.promise(ballot))))
        let reply = try XCTUnwrap(outputs.firstIndex { if case .send(_, .promise) = $0 { true } else { false } })
        XCTAssertLessThan(persisted, reply)
        let batch = [Proposal(origin: other, seq: 1, tag: 9, payload: [1, 2])]
        c.receive(.accept(ballot: ballot, instance: 1, batch: batch, commit: 0), from: other, now: 2)
        let vote = AcceptedEntry(instance: 1, ballot: ballot, batch: batch)
        XCTAssertEqual(c.takeOutputs().prefix(2), [.persist(.vote(vote)), .send(to: other, .accepted(ballot: ballot, instance: 1))])
        XCTAssertEqual(c.durableState, DurableState(promised: ballot, votes: [1: vote], reservedSeq: 0))
    }

    func testMemoryOnlyNodesPersistNothing() {
        var c = Consensus(me: me, bootstrap: .seed(me), now: 0, seed: 1)
        c.campaign()
        _ = c.propose([1], tag: 1, now: 0)
        c.flush()
        XCTAssertFalse(c.takeOutputs().contains { if case .persist = $0 { true } else { false } })
    }

    /// A restarted proposer never reuses a `seq` an earlier run may have in flight, and tells
    /// its host which decided proposals are its own in this run.
    func testARestartedProposerStartsAboveItsReservation() {
        var first = Consensus(me: me, options: durableOptions, bootstrap: .seed(me), now: 0, seed: 1)
        first.campaign()
        for tag in 1...5 { _ = first.propose([UInt8(tag)], tag: UInt64(tag), now: 0) }
        first.flush()
        var state = DurableState()
        for case .persist(let change) in first.takeOutputs() { state.note(change) }
        XCTAssertEqual(state.reservedSeq, 8, "two reservations of 4")
        var restarted = Consensus(me: me, options: durableOptions, bootstrap: .seed(me), now: 0, seed: 2)
        restarted.restore(state)
        XCTAssertEqual(restarted.firstOwnSeq, 9)
        XCTAssertGreaterThanOrEqual(restarted.promised, state.promised)
    }

    /// Replaying a logged instance moves the learner and the watermarks as deciding it did,
    /// and a vote restored for it is dropped.
    func testReplayRestoresTheLearner() {
        let ballot = Ballot(round: 1, leader: me)
        let batch = [Proposal(origin: other, seq: 3, tag: 1, payload: [9])]
        var state = DurableState()
        state.note(.vote(AcceptedEntry(instance: 1, ballot: ballot, batch: batch)))
        state.note(.vote(AcceptedEntry(instance: 2, ballot: ballot, batch: [])))
        var c = Consensus(me: me, options: durableOptions, bootstrap: .seed(me), now: 0, seed: 1)
        c.replay(1, batch)
        c.applied(1, members: [me])
        c.restore(state)
        XCTAssertEqual(c.decided, 1)
        XCTAssertEqual(c.bootstrapState.watermarks, [other: 3])
        XCTAssertEqual(c.durableState.votes.keys.sorted(), [2])
        XCTAssertEqual(c.promised, ballot, "a vote implies its ballot's promise")
    }

    func testChangesAndDecidedEntriesRoundTrip() throws {
        let batch = [Proposal(origin: other, seq: 300, tag: 1 << 40, payload: Array(repeating: 7, count: 200))]
        let changes: [DurableChange] = [
            .promise(Ballot(round: 1 << 33, leader: other)),
            .vote(AcceptedEntry(instance: 1 << 40, ballot: Ballot(round: 2, leader: me), batch: batch)),
            .vote(AcceptedEntry(instance: 1, ballot: .zero, batch: [])),
            .seqReserved(.max),
        ]
        for change in changes {
            let bytes = PeerCodec.encode(change)
            XCTAssertEqual(try bytes.withUnsafeBytes { try PeerCodec.decodeChange($0) }, change)
            // Every proper prefix, and trailing bytes, are refused.
            for cut in 0..<bytes.count {
                XCTAssertThrowsError(try bytes[..<cut].withUnsafeBytes { try PeerCodec.decodeChange($0) })
            }
            XCTAssertThrowsError(try (bytes + [0]).withUnsafeBytes { try PeerCodec.decodeChange($0) })
        }
        let entry = DecidedEntry(instance: 12, batch: batch)
        let bytes = PeerCodec.encode(entry)
        XCTAssertEqual(try bytes.withUnsafeBytes { try PeerCodec.decodeDecided($0) }, entry)
        XCTAssertThrowsError(try bytes.dropLast().withUnsafeBytes { try PeerCodec.decodeDecided($0) })
    }

    func testDurableStateRewritesItself() {
        var state = DurableState()
        let ballot = Ballot(round: 4, leader: other)
        state.note(.promise(ballot))
        state.note(.promise(Ballot(round: 2, leader: other)))
        state.note(.seqReserved(64))
        state.note(.vote(AcceptedEntry(instance: 5, ballot: ballot, batch: [])))
        state.note(.vote(AcceptedEntry(instance: 3, ballot: ballot, batch: [])))
        state.decided(through: 3)
        XCTAssertEqual(state.promised, ballot, "promises only grow")
        var copy = DurableState()
        for change in state.changes { copy.note(change) }
        XCTAssertEqual(copy, state)
        XCTAssertEqual(state.votes.keys.sorted(), [5])
    }
}

/// Which decisions a durable host may apply before its own sync (`durableElsewhere`).
final class DurableDecisionTests: XCTestCase {
    let a = PeerID(nodeID: Array("AAAAAAAAAAAAAAAA".utf8))
    let b = PeerID(nodeID: Array("BBBBBBBBBBBBBBBB".utf8))
    let c = PeerID(nodeID: Array("CCCCCCCCCCCCCCCC".utf8))

    private func node(_ me: PeerID) -> Consensus {
        var options = ConsensusOptions()
        options.durable = true
        let bootstrap = Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: [a, b, c])], watermarks: [:])
        return Consensus(me: me, options: options, bootstrap: bootstrap, now: 0, seed: 1)
    }

    /// Delivers every message among `nodes` except those `drop` refuses, until none is left;
    /// returns each node's decisions.
    private func run(_ nodes: inout [PeerID: Consensus], drop: (PeerID, PeerID, Message) -> Bool)
        -> [PeerID: [(Int64, Bool)]] {
        var decisions: [PeerID: [(Int64, Bool)]] = [:]
        var queue: [(from: PeerID, to: PeerID, message: Message)] = []
        func collect(_ p: PeerID) {
            nodes[p]!.flush()
            for output in nodes[p]!.takeOutputs() {
                switch output {
                case .send(let to, let message): if !drop(p, to, message) { queue.append((p, to, message)) }
                case .decided(let instance, _, let elsewhere):
                    decisions[p, default: []].append((instance, elsewhere))
                    nodes[p]!.applied(instance, members: [a, b, c])
                default: break
                }
            }
        }
        for p in nodes.keys { collect(p) }
        while !queue.isEmpty {
            let (from, to, message) = queue.removeFirst()
            nodes[to]!.receive(message, from: from, now: 1)
            collect(to)
        }
        return decisions
    }

    func testALeaderCountingItsOwnVoteWaitsForItsSync() {
        var nodes = [a: node(a), b: node(b), c: node(c)]
        nodes[a]!.campaign()
        _ = run(&nodes) { _, _, _ in false }
        XCTAssertTrue(nodes[a]!.isLeader)
        // c never sees the accept: the quorum is a (its own vote) and b.
        _ = nodes[a]!.propose([1], tag: 1, now: 1)
        let decisions = run(&nodes) { _, to, message in
            if case .accept = message { return to == c }
            return false
        }
        let leader = decisions[a]?.first { $0.0 == 1 }
        XCTAssertEqual(leader?.1, false, "a's own vote may not be durable yet: it waits for its sync")
        // Learned from the leader's announcement: durable at a quorum already.
        XCTAssertEqual(decisions[b]?.first { $0.0 == 1 }?.1, true)
    }
}
