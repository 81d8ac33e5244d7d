import DoozerConsensus
import XCTest

/// A learner fetches from a member of the next instance. Two non-members that fetched from
/// each other got empty answers that kept each from ever counting the other as quiet, so
/// neither looked for a member again (simulation seed 4853: members removed together; this
/// test failed before the fix).
final class LearnerUpstreamTests: XCTestCase {
    func testLearnersThatFollowEachOtherMoveToAMember() {
        let member = PeerID(raw: 1), a = PeerID(raw: 2), b = PeerID(raw: 3)
        let boot = Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: [member])], watermarks: [:])
        var nodes = [member, a, b].map { Consensus(me: $0, bootstrap: boot, now: 0, seed: $0.raw) }
        nodes[1].upstream = b
        nodes[2].upstream = a
        var mail: [(to: Int, from: PeerID, message: Message)] = []
        func settle(_ i: Int) {
            nodes[i].flush()
            for output in nodes[i].takeOutputs() {
                switch output {
                case .send(let to, let message): mail.append((Int(to.raw) - 1, nodes[i].me, message))
                case .decided(let instance, _, _): nodes[i].applied(instance, members: [member])
                default: break
                }
            }
        }
        nodes[0].campaign()
        for tag in 1...3 { _ = nodes[0].propose(Array("w\(tag)".utf8), tag: UInt64(tag), now: 0) }
        settle(0)
        let decided = nodes[0].decided
        XCTAssertGreaterThan(decided, 0, "a lone member decides alone")

        // Two seconds of ticks, every message delivered: time enough for a keepalive or two.
        var now: Int64 = 0
        while now < 2_000_000_000 {
            now += 10_000_000
            for i in nodes.indices {
                nodes[i].tick(now: now)
                settle(i)
            }
            while !mail.isEmpty {
                let (to, from, message) = mail.removeFirst()
                nodes[to].receive(message, from: from, now: now)
                settle(to)
            }
        }
        XCTAssertEqual(nodes[0].decided, decided)
        XCTAssertEqual(nodes[1].decided, decided, "a learned from the member")
        XCTAssertEqual(nodes[2].decided, decided, "b learned from the member")
        XCTAssertEqual(nodes[1].upstream, member)
        XCTAssertEqual(nodes[2].upstream, member)
    }
}
