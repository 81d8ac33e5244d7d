import DoozerConsensus
import XCTest

/// A large accept travels on a peer stream, and the small commit datagram after it can arrive
/// first. A member behind the commit point waits a `fetchInterval` for the accept before it
/// asks the leader for the entries, instead of fetching (a second copy of the batch) at once.
final class CommitOvertakesAcceptTests: XCTestCase {
    typealias Net = LearnedDecisionTests.Net
    typealias Routed = LearnedDecisionTests.Routed

    private let names = ["L", "A", "B"].map { PeerID(nodeID: Array("\($0)CCCCCCCCCCCCCCC".utf8)) }

    /// L leads; B's accepts are held back (in `held`) and its fetches recorded, while L
    /// decides a batch with A and announces the commit to B.
    private func commitBeforeAccept() -> (net: Net, held: Box<[Routed]>, fetches: Box<[Int64]>) {
        let (l, b) = (names[0], names[2])
        let net = Net(names)
        net.act(l) { $0.campaign() }
        net.deliverAll()
        XCTAssertTrue(net.nodes[l]!.isLeader)
        let held = Box<[Routed]>([]), fetches = Box<[Int64]>([])
        net.allow = { r in
            if r.from == b, case .fetch = r.message { fetches.value.append(net.now) }
            guard r.to == b, r.message.isAccept else { return true }
            held.value.append(r)
            return false
        }
        net.now = 1_000_000   // A's vote decides; L announces the commit at once
        net.act(l) { _ = $0.propose(Array("v".utf8), tag: 1, now: 1_000_000) }
        net.deliverAll()
        XCTAssertGreaterThan(net.nodes[l]!.decided, net.nodes[b]!.decided, "B lacks the decided batch")
        return (net, held, fetches)
    }

    func testTheAcceptArrivingWithinTheGraceDecidesWithoutAFetch() {
        let (net, held, fetches) = commitBeforeAccept()
        let b = names[2]
        XCTAssertEqual(fetches.value, [], "no fetch the moment the commit overtook the accept")
        net.now = 3_000_000
        net.allow = { _ in true }
        for r in held.value { net.act(b) { $0.receive(r.message, from: r.from, now: 3_000_000) } }
        net.deliverAll()
        XCTAssertEqual(net.nodes[b]!.decided, net.nodes[names[0]]!.decided, "the late accept and the commit decide it")
        XCTAssertEqual(fetches.value, [])
    }

    func testWithoutTheAcceptItFetchesAfterTheGrace() {
        let (net, _, fetches) = commitBeforeAccept()
        let b = names[2]
        let options = ConsensusOptions()
        XCTAssertEqual(fetches.value, [], "no fetch the moment the commit overtook the accept")
        let graceEnds = 1_000_000 + options.fetchInterval
        XCTAssertEqual(net.nodes[b]!.nextDeadline, graceEnds, "its timer is due when the grace ends")
        net.now = graceEnds - 1
        net.act(b) { $0.tick(now: net.now) }
        net.deliverAll()
        XCTAssertEqual(fetches.value, [], "not before")
        net.now = graceEnds
        net.act(b) { $0.tick(now: net.now) }
        net.deliverAll()
        XCTAssertEqual(fetches.value, [graceEnds], "one fetch, once the grace ran out")
        XCTAssertEqual(net.nodes[b]!.decided, net.nodes[names[0]]!.decided, "the entries decide it")
    }
}

/// A mutable value shared with a closure.
final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}
