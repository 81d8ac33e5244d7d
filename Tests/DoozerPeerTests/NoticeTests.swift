import DoozerConsensus
import DoozerPeer
import DoozerSystem
import XCTest

/// "You are not a member of this cluster": sent to strangers, rate-limited, reported from members.
final class NoticeTests: XCTestCase {
    func testARemovedMemberIsToldOncePerSecondAndHears() throws {
        let clock = ManualClock()
        let a = try openTransport(1)
        let b = try openTransport(2, clock: clock.read)
        a.setPeers([a.id: a.address, b.id: b.address])
        b.setPeers([b.id: b.address])   // b has removed a
        var notices: [PeerID] = []
        a.onNotMember = { notices.append($0) }
        let pump = try Pump([a, b])

        try a.send(.fetch(from: 1), to: b.id)
        try pump.run { !notices.isEmpty }
        XCTAssertEqual(notices, [b.id])
        XCTAssertEqual(b.stats.droppedUnknownSender, 1)
        XCTAssertEqual(b.stats.noticesSent, 1)
        XCTAssertEqual(a.stats.noticesReceived, 1)

        for _ in 0..<2 { try a.send(.fetch(from: 1), to: b.id); try pump.round() }
        try pump.run { b.stats.droppedUnknownSender == 3 }
        try pump.round()   // anything b queued has been flushed and received
        XCTAssertEqual(b.stats.noticesSuppressed, 2)
        XCTAssertEqual(notices, [b.id])

        clock.now += 1_000_000_000
        try a.send(.fetch(from: 1), to: b.id)
        try pump.run { notices.count == 2 }
        XCTAssertEqual(notices, [b.id, b.id])
        XCTAssertEqual(pump.delivered[1].count, 0)
    }

    func testANoticeFromANonMemberIsIgnoredAndNeverAnswered() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        connect([a, b])
        var notices: [PeerID] = []
        a.onNotMember = { notices.append($0) }
        let stranger = try RawSocket()
        stranger.send(Bytes.datagram(cluster: a.clusterID, sender: b.id, items: [Bytes.notMember]), to: a)          // b's id, another address
        stranger.send(Bytes.datagram(cluster: a.clusterID, sender: PeerID(raw: 5), items: [Bytes.notMember]), to: a) // unknown id
        let pump = try Pump([a])
        try pump.run { a.channelStats.datagramsReceived == 2 }
        try pump.round()
        XCTAssertEqual(notices, [])
        XCTAssertEqual(a.stats.droppedAddressMismatch, 1)
        XCTAssertEqual(a.stats.droppedUnknownSender, 1)
        XCTAssertEqual(a.stats.noticesSent, 0)
        XCTAssertEqual(a.channelStats.datagramsSent, 0)
    }

    func testTheRateLimitTableIsBounded() throws {
        let clock = ManualClock()
        var limits = PeerTransport.Limits()
        limits.maxNoticeSources = 2
        let b = try openTransport(2, limits: limits, clock: clock.read)
        b.setPeers([b.id: b.address])
        let strangers = [try RawSocket(), try RawSocket(), try RawSocket()]
        let hello = Bytes.datagram(cluster: b.clusterID, sender: PeerID(raw: 5), items: [Bytes.whole(.fetch(from: 1))])
        let pump = try Pump([b])
        for stranger in strangers { stranger.send(hello, to: b) }
        try pump.run { b.stats.droppedUnknownSender == 3 }
        XCTAssertEqual(b.stats.noticesSent, 2)
        XCTAssertEqual(b.stats.noticesSuppressed, 1)

        clock.now += 1_000_000_000
        strangers[2].send(hello, to: b)
        try pump.run { b.stats.droppedUnknownSender == 4 }
        XCTAssertEqual(b.stats.noticesSent, 3)
        try pump.round()
        XCTAssertEqual(b.channelStats.datagramsSent, 3)
    }
}
