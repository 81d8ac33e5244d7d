import DoozerConsensus
import XCTest

/// A node that installs another's bootstrap must know the members of every instance after the
/// bootstrap's. A leader's decided prefix routinely runs ahead of what its host applied (a
/// durable host applies once its vote is synced), and consensus used to prune its membership
/// schedule by `decided`, while the bootstrap it hands out is stamped at `applied`: a node
/// starting from it took the later member set for the instances in between, and with a
/// quorum of that set decided another batch at an instance the real members had already
/// decided (found in review; this test failed before the fix: E decided `[]` at instance 3
/// where A and B decided `w3`).
final class MembershipBoundaryTests: XCTestCase {
    private static func peer(_ name: String) -> PeerID { PeerID(nodeID: Array("\(name)BOUNDARYNODE".utf8)) }
    private let a = peer("A"), b = peer("B"), c = peer("C"), d = peer("D"), e = peer("E")

    /// The nodes, their decisions, and the messages between them: delivered only while
    /// `allow` lets them through. Each node's host applies what it decided only up to its
    /// `applyLimit`, reporting the member set `membersAfter(instance)`.
    final class Cluster {
        var nodes: [PeerID: Consensus] = [:]
        var decided: [PeerID: [Int64: Batch]] = [:]
        var applyLimit: [PeerID: Int64] = [:]
        var mail: [(from: PeerID, to: PeerID, message: Message)] = []
        var allow: (PeerID, PeerID) -> Bool = { _, _ in true }
        var now: Int64 = 0
        let membersAfter: (Int64) -> [PeerID]

        init(membersAfter: @escaping (Int64) -> [PeerID]) { self.membersAfter = membersAfter }

        func add(_ node: Consensus) {
            nodes[node.me] = node
            decided[node.me] = [:]
        }

        /// Carries out `peer`'s outputs: sends into `mail`, applies decisions up to its limit.
        func settle(_ peer: PeerID) {
            while true {
                applyAllowed(peer)
                nodes[peer]!.flush()
                let outputs = nodes[peer]!.takeOutputs()
                if outputs.isEmpty { break }
                for output in outputs {
                    switch output {
                    case .send(let to, let message): mail.append((peer, to, message))
                    case .decided(let instance, let batch, _): decided[peer]![instance] = batch
                    default: break
                    }
                }
            }
        }

        func applyAllowed(_ peer: PeerID) {
            let limit = applyLimit[peer] ?? .max
            while let node = nodes[peer], node.applied < min(node.decided, limit) {
                let next = node.applied + 1
                nodes[peer]!.applied(next, members: membersAfter(next))
            }
        }

        func act(_ peer: PeerID, _ action: (inout Consensus) -> Void) {
            action(&nodes[peer]!)
            settle(peer)
        }

        func deliver() {
            while !mail.isEmpty {
                let (from, to, message) = mail.removeFirst()
                guard nodes[to] != nil, allow(from, to) else { continue }
                act(to) { $0.receive(message, from: from, now: now) }
            }
        }

        /// Every instance any two nodes decided, decided the same way.
        func disagreements() -> [String] {
            var found: [String] = []
            var first: [Int64: (PeerID, Batch)] = [:]
            for (peer, batches) in decided.sorted(by: { $0.key < $1.key }) {
                for (instance, batch) in batches {
                    if let (other, known) = first[instance] {
                        if known != batch { found.append("instance \(instance): \(other) decided \(known.map(\.payload)), \(peer) decided \(batch.map(\.payload))") }
                    } else {
                        first[instance] = (peer, batch)
                    }
                }
            }
            return found
        }
    }

    func testANodeStartingFromABootstrapUsesTheMembersOfEachInstanceAfterIt() {
        var options = ConsensusOptions()
        options.alpha = 4
        let (a, b, c, d, e) = (self.a, self.b, self.c, self.d, self.e)
        // Instance 1 adds D and E: in force from instance 1 + α = 5.
        let cluster = Cluster { instance in instance >= 1 ? [a, b, c, d, e] : [a, b, c] }
        let boot = Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: [a, b, c])], watermarks: [:])
        for (i, p) in [a, b, c].enumerated() {
            cluster.add(Consensus(me: p, options: options, bootstrap: boot, now: 0, seed: UInt64(i + 1)))
        }
        cluster.act(a) { $0.campaign() }
        cluster.deliver()
        XCTAssertTrue(cluster.nodes[a]!.isLeader)
        // A's host applies nothing for now; the others apply the change at once.
        cluster.applyLimit[a] = 0
        cluster.act(a) { _ = $0.propose(Array("add D and E".utf8), tag: 1, now: 0) }
        cluster.deliver()
        XCTAssertEqual(cluster.nodes[c]!.applied, 1, "C applied the change")

        // D joins from C's state (members known through the boundary).
        cluster.add(Consensus(me: d, options: options, bootstrap: cluster.nodes[c]!.bootstrapState, now: 0, seed: 4))

        // A and B decide instances 2–4 without C; then A's host applies through 2.
        cluster.allow = { from, to in ![from, to].contains(c) }
        for tag in 2...4 {
            cluster.act(a) { _ = $0.propose(Array("w\(tag)".utf8), tag: UInt64(tag), now: 0) }
            cluster.deliver()
        }
        cluster.applyLimit[a] = 2
        cluster.act(a) { _ in }
        XCTAssertEqual(cluster.nodes[a]!.decided, 4)
        XCTAssertEqual(cluster.nodes[a]!.applied, 2)
        XCTAssertEqual(cluster.decided[a]![3]?.map(\.payload), [Array("w3".utf8)])

        // E starts from A's bootstrap (stamped at A's applied instance, 2). Cut off from A and
        // B, and long after C last heard from its leader, it takes a write and stands for
        // election.
        cluster.add(Consensus(me: e, options: options, bootstrap: cluster.nodes[a]!.bootstrapState, now: 0, seed: 5))
        XCTAssertEqual(cluster.nodes[e]!.members(at: 3), [a, b, c].sorted(), "instance 3 belongs to A, B and C")
        cluster.now = 2_000_000_000
        cluster.allow = { from, to in ![a, b].contains(from) && ![a, b].contains(to) }
        cluster.act(e) { _ = $0.propose(Array("e".utf8), tag: 9, now: cluster.now) }
        cluster.act(e) { $0.campaign() }
        cluster.deliver()
        for p in [c, d, e] { cluster.act(p) { $0.tick(now: cluster.now) } }
        cluster.deliver()

        XCTAssertEqual(cluster.disagreements(), [], "one batch per instance on every replica")
    }
}
