import DoozerConsensus
import XCTest

/// Single-node behaviour and the guards against forged or foreign traffic (B4, B5, B12).
final class ConsensusTests: XCTestCase {
    let me = PeerID(nodeID: Array("AAAAAAAAAAAAAAAA".utf8))
    let other = PeerID(nodeID: Array("BBBBBBBBBBBBBBBB".utf8))
    let stranger = PeerID(nodeID: Array("CCCCCCCCCCCCCCCC".utf8))

    private func leaderAlone() -> Consensus {
        var c = Consensus(me: me, bootstrap: .seed(me), now: 0, seed: 1)
        c.tick(now: c.nextDeadline)
        XCTAssertTrue(c.isLeader)
        _ = c.takeOutputs()
        return c
    }

    func testASingleMemberDecidesEveryBatchAtOnceInOrder() {
        var c = leaderAlone()
        for tag in 1...3 { XCTAssertEqual(c.propose(Array("w\(tag)".utf8), tag: UInt64(tag), now: 0), .accepted) }
        c.flush()
        let decided = c.takeOutputs().compactMap { output -> Batch? in
            if case .decided(_, let batch, _) = output { return batch } else { return nil }
        }
        XCTAssertEqual(decided.count, 1, "one flush, one batch")
        XCTAssertEqual(decided.first?.map(\.tag), [1, 2, 3])
        XCTAssertEqual(c.decided, 1)
    }

    func testWritesWaitForTheWindowAndResumeWhenApplied() {
        var c = leaderAlone()
        var instances: [Int64] = []
        for tag in 1...60 {
            _ = c.propose([UInt8(tag)], tag: UInt64(tag), now: 0)
            c.flush()
            for case .decided(let instance, _, _) in c.takeOutputs() { instances.append(instance) }
        }
        XCTAssertEqual(instances.count, 50, "α instances beyond the last applied one")
        for instance in 1...Int64(50) { c.applied(instance, members: [me]) }
        c.flush()
        let more = c.takeOutputs().filter { if case .decided = $0 { return true } else { return false } }
        XCTAssertEqual(more.count, 1, "the rest go into one batch once the window opens")
    }

    /// Flow control: the leader stops proposing once `limitInflight`'s bytes are undecided
    /// (the instance that crosses the bound included), and goes on as votes decide them.
    func testTheLeaderKeepsNoMoreThanItsInflightBytesUndecided() {
        func acceptsSent(limit: Int?, datagramLimit: Int = .max, streamedFrom: Int = .max,
                         size: Int = 400) -> (first: Int, afterVotes: Int) {
            var c = Consensus(me: me, bootstrap: Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: [me, other])],
                                                           watermarks: [:]), now: 0, seed: 1)
            if let limit { c.limitInflight(to: limit, datagramBytes: datagramLimit, streamedFrom: streamedFrom) }
            c.tick(now: c.nextDeadline)
            c.receive(.promise(ballot: c.candidacy, from: 1, decided: 0, accepted: []), from: other, now: c.now)
            c.flush()
            XCTAssertTrue(c.isLeader)
            _ = c.takeOutputs()
            func accepts() -> [(Ballot, Int64)] {
                c.takeOutputs().compactMap { output in
                    if case .send(other, .accept(let ballot, let instance, _, _)) = output { (ballot, instance) } else { nil }
                }
            }
            var sent: [(Ballot, Int64)] = []
            for tag in 1...10 {
                _ = c.propose([UInt8](repeating: UInt8(tag), count: size), tag: UInt64(tag), now: c.now)
                c.flush()
                sent += accepts()
            }
            let first = sent.count
            for (ballot, instance) in sent { c.receive(.accepted(ballot: ballot, instance: instance), from: other, now: c.now) }
            c.flush()
            return (first, first + accepts().count)
        }
        XCTAssertEqual(acceptsSent(limit: nil).first, 10, "one instance per flush without a bound")
        let bounded = acceptsSent(limit: 1000)
        XCTAssertEqual(bounded.first, 3, "400, 800, then the instance that crosses 1,000 bytes")
        XCTAssertGreaterThan(bounded.afterVotes, bounded.first, "the rest are proposed once those are decided")
        // Batches the host streams count only towards the total; datagram-sized ones towards both.
        XCTAssertEqual(acceptsSent(limit: 10_000, datagramLimit: 1000, streamedFrom: 2000).first, 3,
                       "400-byte batches: held by the datagram bound")
        XCTAssertEqual(acceptsSent(limit: 10_000, datagramLimit: 1000, streamedFrom: 2000, size: 3000).first, 4,
                       "3,000-byte batches: 3,000 … 12,000, past the datagram bound, held by the total")
    }

    func testMessagesFromOutsideTheClusterChangeNothing() {
        var c = leaderAlone()
        let promised = c.promised
        let forged: [Message] = [
            .accepted(ballot: Ballot(round: 99, leader: stranger), instance: 1),
            .accept(ballot: Ballot(round: 99, leader: stranger), instance: 1,
                    batch: [Proposal(origin: stranger, seq: 1, tag: 1, payload: Array("1:/x=y".utf8))], commit: 1),
            .commit(ballot: Ballot(round: 99, leader: stranger), upTo: 5),
            .prepare(ballot: Ballot(round: 99, leader: stranger), from: 1),
        ]
        // (Forwarded writes are taken from any node the transport admits, slaves included:
        // the transport, not consensus, keeps strangers out.)
        for message in forged { c.receive(message, from: stranger, now: 0) }
        c.flush()
        XCTAssertEqual(c.promised, promised)
        XCTAssertEqual(c.decided, 0)
        XCTAssertTrue(c.isLeader)
        XCTAssertEqual(c.dropped, forged.count)
        for output in c.takeOutputs() {
            if case .decided = output { XCTFail("a forged message forced a decision") }
        }
    }

    func testAMemberMayNotSpeakForAnotherLeader() {
        var c = Consensus(me: me, bootstrap: Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: [me, other])], watermarks: [:]),
                          now: 0, seed: 1)
        // `other` claims a ballot led by `me`: dropped, never voted for.
        c.receive(.accept(ballot: Ballot(round: 5, leader: me), instance: 1, batch: [], commit: 0), from: other, now: 0)
        XCTAssertEqual(c.promised, .zero)
    }

    func testANonMemberRefusesWrites() {
        var c = Consensus(me: stranger, bootstrap: .seed(me), now: 0, seed: 1)
        XCTAssertEqual(c.propose([1], tag: 1, now: 0), .notMember)
    }

    func testPendingProposalsAreBounded() {
        var options = ConsensusOptions()
        options.maxPending = 2
        var c = Consensus(me: me, options: options, bootstrap: .seed(me), now: 0, seed: 1)
        XCTAssertEqual(c.propose([1], tag: 1, now: 0), .accepted)
        XCTAssertEqual(c.propose([2], tag: 2, now: 0), .accepted)
        XCTAssertEqual(c.propose([3], tag: 3, now: 0), .overloaded)
    }
}

/// The peer codec: exact round trips, and no input can crash it or make it allocate more
/// than the frame's size.
final class PeerCodecTests: XCTestCase {
    static let samples: [Message] = {
        let b = Ballot(round: 7, leader: PeerID(raw: 0xDEAD_BEEF_0102_0304))
        let p = Proposal(origin: PeerID(raw: 42), seq: 300, tag: 1 << 40, payload: Array("12:/a/b=hello".utf8))
        return [
            .prepare(ballot: b, from: 12),
            .promise(ballot: b, from: 12, decided: 11, accepted: [AcceptedEntry(instance: 12, ballot: b, batch: [p, p])]),
            .reject(ballot: b, promised: Ballot(round: 9, leader: PeerID(raw: 1)), decided: 3),
            .accept(ballot: b, instance: 1 << 33, batch: [p], commit: 5),
            .accept(ballot: b, instance: 1, batch: [], commit: 0),
            .accepted(ballot: b, instance: 0),
            .commit(ballot: b, upTo: 99),
            .forward([p, Proposal(origin: PeerID(raw: 1), seq: 1, tag: 0, payload: [])]),
            .fetch(from: 77),
            .entries(decided: 80, leader: PeerID(raw: 3), [DecidedEntry(instance: 77, batch: [p])]),
            .entries(decided: 80, leader: nil, []),
            .tooOld(oldest: 1000),
        ]
    }()

    func testEveryMessageRoundTrips() throws {
        for message in Self.samples {
            XCTAssertEqual(try PeerCodec.decode(PeerCodec.encode(message)), message)
        }
    }

    func testBootstrapRoundTrips() throws {
        let b = Bootstrap(instance: 1234,
                          schedule: [ScheduleEntry(from: 1200, members: [PeerID(raw: 1), PeerID(raw: 2)]),
                                     ScheduleEntry(from: 1250, members: [PeerID(raw: 3)])],
                          watermarks: [PeerID(raw: 1): 77, PeerID(raw: 9): 1 << 40])
        let bytes = PeerCodec.encode(b)
        XCTAssertEqual(try PeerCodec.decodeBootstrap(bytes), b)
        for cut in 0..<bytes.count { XCTAssertThrowsError(try PeerCodec.decodeBootstrap(Array(bytes[..<cut]))) }
    }

    func testBootstrapWithRetiredOriginsRoundTrips() throws {
        let b = Bootstrap(instance: 10, schedule: [ScheduleEntry(from: 5, members: [PeerID(raw: 1)])],
                          watermarks: [PeerID(raw: 1): 3], retired: [PeerID(raw: 7): 9])
        XCTAssertEqual(try PeerCodec.decodeBootstrap(PeerCodec.encode(b)), b)
    }

    /// A bootstrap whose schedule starts after the instance following it (what an earlier
    /// build could write, pruning by the decided prefix) leaves instances without members.
    func testABootstrapWhoseScheduleMissesTheNextInstanceIsRefused() {
        let b = Bootstrap(instance: 10, schedule: [ScheduleEntry(from: 12, members: [PeerID(raw: 1)])], watermarks: [:])
        XCTAssertThrowsError(try PeerCodec.decodeBootstrap(PeerCodec.encode(b)))
        let edge = Bootstrap(instance: 10, schedule: [ScheduleEntry(from: 11, members: [PeerID(raw: 1)])], watermarks: [:])
        XCTAssertEqual(try PeerCodec.decodeBootstrap(PeerCodec.encode(edge)), edge)
    }

    func testTruncationsAndExtensionsAreRefused() {
        for message in Self.samples {
            let bytes = PeerCodec.encode(message)
            for cut in 0..<bytes.count {
                XCTAssertThrowsError(try PeerCodec.decode(Array(bytes[..<cut])), "\(message) cut at \(cut)")
            }
            XCTAssertThrowsError(try PeerCodec.decode(bytes + [0]))
        }
    }

    func testRandomBytesNeverCrash() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<20_000 {
            let count = Int(rng.next() % 64)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if !bytes.isEmpty { bytes[0] = UInt8(1 + rng.next() % 10) }
            _ = try? PeerCodec.decode(bytes)
        }
        // A count that claims more items than the frame could hold is refused before allocating.
        XCTAssertThrowsError(try PeerCodec.decode([7, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))
    }
}
