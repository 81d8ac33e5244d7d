import DoozerConsensus
@_spi(Fuzzing) import DoozerPeer
import DoozerSystem
import XCTest

/// Messages too large for one datagram go to the owner's stream when it takes them, and come
/// back as stream records, authenticated by the sender's host (its port is the kernel's pick).
final class StreamRecordTests: XCTestCase {
    static let large = Message.accept(ballot: Samples.ballot, instance: 7,
                                      batch: (0..<3).map { Samples.proposal(size: 65_536, seed: $0) }, commit: 6)

    /// What `a` handed its stream for `b`, as the record the stream would carry.
    private func streamedRecords(from a: PeerTransport, to b: PeerTransport, _ messages: [Message]) throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        a.streamLargeMessage = { address, item in
            XCTAssertEqual(address, b.address)
            records.append(a.recordHeader + item)
            return true
        }
        for message in messages { try a.send(message, to: b.id) }
        return records
    }

    func testALargeMessageGoesToTheStreamAndASmallOneInADatagram() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        connect([a, b])
        let small = Message.fetch(from: 3)
        let records = try streamedRecords(from: a, to: b, [Self.large, small])
        XCTAssertEqual(records.count, 1, "only the large message is streamed")
        XCTAssertFalse(a.hasBacklog, "nothing waits to be fragmented")
        XCTAssertEqual(a.stats.messagesStreamed, 1)

        let pump = try Pump([a, b])
        try pump.run { pump.delivered[1].count == 1 }
        XCTAssertEqual(pump.messages(at: 1), [small])
        XCTAssertEqual(a.stats.fragmentsSent, 0)

        var delivered: [(PeerID, Message)] = []
        let sender = records[0].withUnsafeBytes { record in
            b.receiveStreamed(record, from: a.address.withPort(40_000)) { delivered.append(($0, $1)) }
        }
        XCTAssertEqual(sender, a.id, "the host matches; the port need not")
        XCTAssertEqual(delivered.map(\.0), [a.id])
        XCTAssertEqual(delivered.map(\.1), [Self.large])
        XCTAssertEqual(b.stats.recordsReceived, 1)
    }

    func testAStreamThatCannotTakeAMessageLeavesItToFragments() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        connect([a, b])
        a.streamLargeMessage = { _, _ in false }
        try a.send(Self.large, to: b.id)
        XCTAssertTrue(a.hasBacklog)
        XCTAssertEqual(a.stats.messagesStreamed, 0)
        let pump = try Pump([a, b])
        try pump.run { pump.delivered[1].count == 1 }
        XCTAssertEqual(pump.messages(at: 1), [Self.large])
    }

    func testTheHeaderAloneOpensAStreamAndDeliversNothing() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        connect([a, b])
        let sender = a.recordHeader.withUnsafeBytes { b.receiveStreamed($0, from: a.address) { _, _ in XCTFail("delivered") } }
        XCTAssertEqual(sender, a.id)
    }

    func testRecordsFailingTheChecksAreDroppedByReason() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        let stranger = try openTransport(3)
        let other = try openTransport(1, cluster: "other")
        connect([a, b])
        let item = try streamedRecords(from: a, to: b, [Self.large])[0].dropFirst(a.recordHeader.count)

        func receive(_ record: [UInt8], from source: SocketAddress) -> PeerID? {
            record.withUnsafeBytes { b.receiveStreamed($0, from: source) { _, _ in XCTFail("delivered") } }
        }
        let elsewhere = try SocketAddress.resolve("127.0.0.9:1")
        XCTAssertNil(receive(a.recordHeader + item, from: elsewhere), "another host")
        XCTAssertEqual(b.stats.droppedAddressMismatch, 1)
        XCTAssertNil(receive(stranger.recordHeader + item, from: stranger.address), "not in the table")
        XCTAssertEqual(b.stats.droppedUnknownSender, 1)
        XCTAssertNil(receive(other.recordHeader + item, from: a.address), "another cluster")
        XCTAssertEqual(b.stats.droppedOtherCluster, 1)
        XCTAssertNil(receive(Array(a.recordHeader.dropFirst()) + item, from: a.address), "no header")
        XCTAssertEqual(b.stats.droppedBadHeader, 1)
        XCTAssertNil(receive(a.recordHeader + [2] + item.dropFirst(), from: a.address), "a fragment's kind")
        XCTAssertNil(receive(a.recordHeader + PeerDatagram.notMemberItem, from: a.address), "a control item")
        XCTAssertEqual(b.stats.droppedMalformed, 2)
        XCTAssertNotNil(receive(a.recordHeader + item.dropLast(), from: a.address), "authenticated, so the sender is known")
        XCTAssertEqual(b.stats.droppedChecksum, 1, "but a message cut short is not delivered")
        XCTAssertEqual(b.stats.messagesReceived, 0)
        XCTAssertEqual(b.stats.noticesSent, 0, "a stream's stranger gets no datagram")
    }
}
