import DoozerConsensus
import XCTest

/// The leader records votes by a member's position in the instance's member set, the first 64
/// in one word and the rest apart: a quorum that needs members past the 64th still decides.
final class LargeMemberSetTests: XCTestCase {
    func testAQuorumOfMembersPastTheSixtyFourthDecides() {
        let members = (0..<70).map { PeerID(nodeID: Array("M\($0)-AAAAAAAAAAAAA".utf8)) }.sorted()
        let net = LearnedDecisionTests.Net(members)
        let leader = members[0]
        // Only the leader and the last 35 members hear each other: 36 of 70, a bare quorum,
        // six of them at positions 64–69.
        let reachable = Set([leader] + members[35...])
        net.allow = { reachable.contains($0.from) && reachable.contains($0.to) }
        net.act(leader) { $0.campaign() }
        net.deliverAll()
        XCTAssertTrue(net.nodes[leader]!.isLeader)

        for tag in 1...3 {
            net.act(leader) { XCTAssertEqual($0.propose(Array("w\(tag)".utf8), tag: UInt64(tag), now: 0), .accepted) }
            net.deliverAll()
        }
        let decided = net.decided[leader]!.values.flatMap { $0 }.map(\.tag).sorted()
        XCTAssertEqual(decided, [1, 2, 3], "the leader decides each write once")
        for peer in members[35...] {
            XCTAssertEqual(net.decided[peer]!.count, net.decided[leader]!.count, "\(peer) learns every decision")
        }
    }
}
