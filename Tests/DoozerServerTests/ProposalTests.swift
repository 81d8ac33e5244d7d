@testable import DoozerServer
@testable import DoozerNode
@testable import DoozerDurability
@testable import DoozerStartup
import DoozerStore
import DoozerWire
import XCTest

final class PendingWritesTests: XCTestCase {
    private func origin(_ session: UInt64, tag: Int32) -> WriteOrigin {
        .client(session: session, tag: tag, verb: .set)
    }

    private func tag(_ origin: WriteOrigin?) -> Int32? {
        guard case .client(_, let tag, _) = origin else { return nil }
        return tag
    }

    func testIdsIncreaseAndSettleInAnyOrder() {
        var table = PendingWrites(initialCapacity: 2)
        let ids = (1...5).map { table.insert(origin(7, tag: $0))! }
        XCTAssertEqual(ids, [1, 2, 3, 4, 5])
        XCTAssertEqual(tag(table.remove(3)), 3)
        XCTAssertNil(table.remove(3), "settled once only")
        XCTAssertEqual(tag(table.remove(1)), 1)
        XCTAssertEqual(table.count, 3)
        XCTAssertEqual(table.insert(origin(7, tag: 6)), 6)
        XCTAssertEqual([5, 2, 6, 4].map { tag(table.remove($0)) }, [5, 2, 6, 4])
        XCTAssertEqual(table.count, 0)
        XCTAssertNil(table.remove(99), "never handed out")
    }

    func testBoundRefusesPastCapacityUntilTheOldestSettles() {
        var table = PendingWrites()
        for expected in 1...UInt64(PendingWrites.capacity) {
            XCTAssertEqual(table.insert(.node("test")), expected)
        }
        XCTAssertEqual(table.count, PendingWrites.capacity)
        XCTAssertNil(table.insert(.node("test")), "the 65,537th write in flight is refused")
        XCTAssertNotNil(table.remove(2))
        XCTAssertNil(table.insert(.node("test")), "the bound spans from the oldest pending id")
        XCTAssertNotNil(table.remove(1))
        XCTAssertEqual(table.insert(.node("test")), UInt64(PendingWrites.capacity) + 1)
        XCTAssertEqual(table.insert(.node("test")), UInt64(PendingWrites.capacity) + 2)
        XCTAssertNil(table.insert(.node("test")))
    }

    func testForgettingASessionKeepsTheOthers() {
        var table = PendingWrites()
        let a1 = table.insert(origin(1, tag: 1))!
        let b = table.insert(origin(2, tag: 2))!
        let a2 = table.insert(origin(1, tag: 3))!
        let node = table.insert(.node("pulse"))!
        table.forget(session: 1)
        XCTAssertEqual(table.count, 2)
        XCTAssertNil(table.remove(a1))
        XCTAssertNil(table.remove(a2))
        XCTAssertEqual(tag(table.remove(b)), 2)
        XCTAssertNotNil(table.remove(node))
    }
}

/// The write path with a sequencer that decides later, as consensus will: answers come when
/// (and only when) a proposal is applied or failed, each to its own tag.
final class ProposalTests: XCTestCase {
    func testAnswersArriveOnlyWhenDecidedAndMatchTheirTags() throws {
        let node = try HandDrivenNode()
        let sequencer = HeldSequencer(server: node.server)
        node.server.sequencer = sequencer
        let client = try node.connect()
        let start = node.server.store.rev

        client.send([
            Request(tag: 1, verb: .set, path: "/x/a", value: Array("1".utf8), rev: -1),
            Request(tag: 2, verb: .set, path: "/x/b", value: Array("2".utf8), rev: 0),
            Request(tag: 3, verb: .set, path: "/ctl/name", value: Array("3".utf8), rev: 0),   // exists
            Request(tag: 4, verb: .del, path: "/x/a", rev: -1),
            Request(tag: 5, verb: .nop),
            Request(tag: 6, verb: .rev),
        ])
        XCTAssertEqual(try client.answers(), [Response(tag: 6, rev: start)], "writes wait for their decision")
        let ids = sequencer.proposals
        XCTAssertEqual(ids.count, 5)
        XCTAssertEqual(node.server.store.rev, start)

        // A batch in another order than submitted, with another node's write in the middle.
        sequencer.decide([ids[2], nil, ids[0]])
        XCTAssertEqual(try client.answers(), [
            Response(tag: 3, errCode: .revMismatch),
            Response(tag: 1, rev: start + 3),
        ])
        XCTAssertEqual(node.body("/x/a"), "1")

        sequencer.fail(ids[1], .overloaded)
        XCTAssertEqual(try client.answers(), [Response(tag: 2, errCode: .other, errDetail: "too many writes in flight")])

        sequencer.decide([ids[4], ids[3]])
        XCTAssertEqual(try client.answers(), [Response(tag: 5), Response(tag: 4)])
        XCTAssertEqual(node.server.store.rev, start + 5)
        XCTAssertNil(node.body("/x/a"), "deleted at the last revision")
        XCTAssertNil(node.body("/x/b"), "a failed proposal is never applied")
        XCTAssertEqual(node.server.pendingWrites.count, 0)
        XCTAssertEqual(client.session.pendingWrites, 0)
    }

    /// A write whose outcome the node lost track of (it caught up from a snapshot, or left the
    /// cluster, with the write in flight) may have been applied: it is never answered with an
    /// error, which clients read as "not written". Its connection is closed instead, which
    /// they already take as "outcome unknown". (Answered OTHER "outcome unknown" before: a
    /// fault run found one such write applied.)
    func testAWriteOfUnknownOutcomeClosesItsConnectionInsteadOfAnsweringAnError() throws {
        let node = try HandDrivenNode()
        let sequencer = HeldSequencer(server: node.server)
        node.server.sequencer = sequencer
        let client = try node.connect()
        let bystander = try node.connect()
        client.send([Request(tag: 1, verb: .set, path: "/maybe", value: Array("v".utf8), rev: -1)])
        bystander.send([Request(tag: 1, verb: .set, path: "/other", value: Array("w".utf8), rev: -1)])
        let ids = sequencer.proposals

        sequencer.fail(ids[0], .outcomeUnknown)
        XCTAssertEqual(try client.answers(), [], "no answer, and above all no error")
        XCTAssertTrue(client.isClosedByServer, "the connection is closed")
        XCTAssertFalse(client.session.isOpen)
        sequencer.decide([ids[1]])
        XCTAssertEqual(try bystander.answers(), [Response(tag: 1, rev: node.server.store.rev)], "other connections go on")
    }

    func testAClosedSessionsPendingWriteStillAppliesButAnswersNobody() throws {
        let node = try HandDrivenNode()
        let sequencer = HeldSequencer(server: node.server)
        node.server.sequencer = sequencer
        let leaving = try node.connect()
        leaving.send([Request(tag: 1, verb: .set, path: "/left", value: Array("behind".utf8), rev: -1)])
        let id = try XCTUnwrap(sequencer.proposals.first)

        node.server.close(leaving.session)
        XCTAssertEqual(node.server.pendingWrites.count, 0, "forgotten with the connection, like its WAITs")
        let successor = try node.connect()   // reuses the closed connection's registry slot
        XCTAssertEqual(successor.session.token & 0xFFFF_FFFF, leaving.session.token & 0xFFFF_FFFF)
        XCTAssertNotEqual(successor.session.token, leaving.session.token)

        sequencer.decide([id])
        XCTAssertEqual(node.body("/left"), "behind", "the write itself still applies")
        XCTAssertEqual(try successor.answers(), [], "its answer reaches nobody")
        successor.send([Request(tag: 1, verb: .get, path: "/left")])
        XCTAssertEqual(try successor.answers(), [Response(tag: 1, rev: node.server.store.rev, value: Array("behind".utf8))])
    }

    func testPastTheBoundAWriteIsRefusedNotQueued() throws {
        let node = try HandDrivenNode()
        let sequencer = HeldSequencer(server: node.server)
        node.server.sequencer = sequencer
        for _ in 0..<PendingWrites.capacity { node.server.propose(Mutation.nop, origin: .node("filler")) }
        let client = try node.connect()

        client.send([Request(tag: 9, verb: .set, path: "/one/more", value: [], rev: -1)])
        XCTAssertEqual(try client.answers(), [Response(tag: 9, errCode: .other, errDetail: "too many writes in flight")])
        XCTAssertEqual(sequencer.proposals.count, PendingWrites.capacity, "nothing more was proposed")
        XCTAssertEqual(client.session.pendingWrites, 0)

        sequencer.decide([sequencer.proposals[0]])
        client.send([Request(tag: 10, verb: .nop)])
        sequencer.decide([sequencer.proposals.last])
        XCTAssertEqual(try client.answers(), [Response(tag: 10)])
    }
}
