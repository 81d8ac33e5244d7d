import DoozerConsensus
import XCTest

/// A leader that learns a decision through `.entries` must not go on announcing
/// `commit(b, upTo)` over it: an acceptor holding a vote at `b` for a different batch would
/// decide that batch (found in review; these tests failed before the fix).
final class LearnedDecisionTests: XCTestCase {
    struct Routed { let from: PeerID; let to: PeerID; let message: Message }

    final class Net {
        var nodes: [PeerID: Consensus] = [:]
        var decided: [PeerID: [Int64: Batch]] = [:]
        var queue: [Routed] = []
        var now: Int64 = 0
        var allow: (Routed) -> Bool = { _ in true }
        let members: [PeerID]

        init(_ members: [PeerID], options: ConsensusOptions = ConsensusOptions()) {
            self.members = members
            let boot = Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: members)], watermarks: [:])
            for (i, p) in members.enumerated() {
                nodes[p] = Consensus(me: p, options: options, bootstrap: boot, now: 0, seed: UInt64(i + 1))
                decided[p] = [:]
            }
        }

        func collect(_ p: PeerID) {
            while true {
                let outs = nodes[p]!.takeOutputs()
                if outs.isEmpty { return }
                for o in outs {
                    switch o {
                    case .send(let to, let m): queue.append(Routed(from: p, to: to, message: m))
                    case .decided(let i, let b, _):
                        decided[p]![i] = b
                        nodes[p]!.applied(i, members: members)
                    default: break
                    }
                }
                nodes[p]!.flush()
            }
        }

        func act(_ p: PeerID, _ f: (inout Consensus) -> Void) {
            f(&nodes[p]!)
            nodes[p]!.flush()
            collect(p)
        }

        func deliverAll() {
            while !queue.isEmpty {
                let r = queue.removeFirst()
                guard allow(r) else { continue }
                act(r.to) { $0.receive(r.message, from: r.from, now: now) }
            }
        }
    }

    func testStaleLeaderCommitOverLearnedEntriesSplitsTheOrder() {
        let names = ["L", "A", "X", "Y", "Z"].map { PeerID(nodeID: Array("\($0)AAAAAAAAAAAAAAA".utf8)) }
        let (l, a, x, y, z) = (names[0], names[1], names[2], names[3], names[4])
        let net = Net(names)
        let v = Array("v".utf8), w = Array("w".utf8)

        // t=0: L had fetched from X earlier (X keeps it as a follower and pushes to it).
        net.act(x) { $0.receive(.fetch(from: 1), from: l, now: 0) }
        net.queue.removeAll()
        // L is elected at b by everyone.
        net.act(l) { $0.campaign() }
        net.deliverAll()
        XCTAssertTrue(net.nodes[l]!.isLeader)
        // L proposes v; its accept reaches only A (and L itself).
        net.now = 1_000_000
        net.allow = { r in !(r.from == l && [x, y, z].contains(r.to)) || !(r.message.isAccept) }
        net.act(l) { _ = $0.propose(v, tag: 1, now: 1_000_000) }
        net.deliverAll()
        XCTAssertEqual(net.nodes[l]!.decided, 0, "v is not chosen: only L and A voted")
        // From t=100ms nothing from L reaches X, Y, Z.
        net.now = 100_000_000
        net.allow = { r in !(r.from == l && [x, y, z].contains(r.to)) }
        net.act(l) { $0.tick(now: 100_000_000) }
        net.deliverAll()
        // t=260ms: Y stands at a higher ballot; X, Z and Y choose w at instance 1. Nothing
        // from X, Y, Z reaches A or L — except X's push of entries to its follower L.
        net.now = 260_000_000
        net.allow = { r in
            if r.from == l && [x, y, z].contains(r.to) { return false }
            if [x, y, z].contains(r.from) && [a, l].contains(r.to) { return r.from == x && r.message.isEntries }
            return true
        }
        net.act(y) { $0.campaign() }
        net.deliverAll()
        XCTAssertTrue(net.nodes[y]!.isLeader)
        net.act(y) { _ = $0.propose(w, tag: 2, now: 260_000_000) }
        net.deliverAll()
        XCTAssertEqual(net.decided[y]![1]?.first?.payload, w)
        // L heard nothing of Y's ballot but learned instance 1 from X's entries: a batch other
        // than the one it proposed there, so a higher ballot chose it and L is stale.
        XCTAssertFalse(net.nodes[l]!.isLeader, "L stepped down on learning a batch it did not propose")
        // t=280ms: L heartbeats commit(b, upTo: decided) to A.
        net.now = 280_000_000
        net.act(l) { $0.tick(now: 280_000_000) }
        net.deliverAll()
        let atL = net.decided[l]![1]?.first?.payload
        let atA = net.decided[a]![1]?.first?.payload
        XCTAssertEqual(atL, w, "L decided what was chosen")
        XCTAssertNotEqual(atA, v, "A must never decide L's unchosen batch")
        if let atA { XCTAssertEqual(atA, w, "A decided what was chosen") }
    }
}

extension Message {
    var isAccept: Bool { if case .accept = self { return true } else { return false } }
    var isEntries: Bool { if case .entries = self { return true } else { return false } }
}

final class LearnedInstanceSlotTests: XCTestCase {
    typealias Net = LearnedDecisionTests.Net

    /// A new leader that learns instances it has in flight through `.entries` never frees
    /// their slots; with α of them it proposes nothing more, yet keeps its followers.
    func testLearnedInstancesLeakLeaderSlots() {
        let names = ["X", "L", "A", "B", "C"].map { PeerID(nodeID: Array("\($0)BBBBBBBBBBBBBBB".utf8)) }
        let (x, l, a, b, c) = (names[0], names[1], names[2], names[3], names[4])
        var options = ConsensusOptions()
        options.alpha = 3
        let net = Net(names, options: options)
        // X leads at a and chooses instances 1...3; only A learns the commit.
        net.act(x) { $0.campaign() }
        net.deliverAll()
        XCTAssertTrue(net.nodes[x]!.isLeader)
        net.allow = { r in !(r.from == x && r.message.isCommit && r.to != a) }
        for t in 1...3 { net.act(x) { _ = $0.propose([UInt8(t)], tag: UInt64(t), now: 0) } }
        net.deliverAll()   // three accepts, each carrying commit 0, then the acks
        XCTAssertEqual(net.nodes[x]!.decided, 3)
        net.act(x) { $0.tick(now: 30_000_000) }   // heartbeat commit(a, 3): only A gets it
        net.deliverAll()
        XCTAssertEqual(net.nodes[a]!.decided, 3)
        XCTAssertEqual(net.nodes[l]!.decided, 0)
        // X dies. L stands; B and C promise (reporting 1...3), A refuses (it decided them).
        // L's accept for instance 1 does not reach B and C for a while; A's entries answer
        // L's fetch only once L leads.
        net.allow = { r in
            if r.from == x || r.to == x { return false }
            if r.from == l, [b, c].contains(r.to), case .accept(_, 1, _, _) = r.message, net.nodes[l]!.decided < 1 { return false }
            if r.from == a, r.to == l, r.message.isEntries, !net.nodes[l]!.isLeader { return false }
            return true
        }
        net.now = 400_000_000
        net.act(l) { $0.campaign() }
        net.deliverAll()
        XCTAssertTrue(net.nodes[l]!.isLeader)
        // A new write at L; ticks for two seconds.
        net.act(l) { _ = $0.propose([9], tag: 9, now: net.now) }
        for step in 1...100 {
            net.now = 400_000_000 + Int64(step) * 20_000_000
            for p in [l, a, b, c] { net.act(p) { $0.tick(now: net.now) } }
            net.deliverAll()
        }
        XCTAssertGreaterThan(net.nodes[l]!.decided, 3, "the write at L was never decided")
    }
}

extension Message {
    var isCommit: Bool { if case .commit = self { return true } else { return false } }
}
