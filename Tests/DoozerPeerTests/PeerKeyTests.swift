import DoozerConsensus
@_spi(Fuzzing) import DoozerPeer
import DoozerSystem
import DoozerTLS
import XCTest

/// The peer key (`-peerkey`): sealed datagrams and stream records reach their peer once, and a
/// changed byte, a replay, a missing seal, a seal with no key to check it, or a key the
/// receiver does not hold is refused and counted by reason.
final class PeerKeyTests: XCTestCase {
    private static let keyA = Array(repeating: UInt8(0xA5), count: 32)
    private static let keyB = Array(repeating: UInt8(0x3C), count: 32)

    /// A simulated node: its transport, what it sent (by destination), what it delivered.
    private final class Node {
        var transport: PeerTransport!
        var sent: [(SocketAddress, [UInt8])] = []
        var delivered: [Message] = []
        let address: SocketAddress

        init(_ id: UInt64, keys: [[UInt8]]?) throws {
            address = try SocketAddress.resolve("127.0.0.\(id):8046")
            transport = PeerTransport.simulated(address: address, cluster: "test", id: PeerID(raw: id), clock: { 0 },
                                                keys: try keys.map { try PeerKeys(keys: $0) }, firstCounter: 1000) { [unowned self] to, bytes in
                sent.append((to, Array(bytes)))
            }
        }

        /// Delivers `datagram` as if it came from `source`.
        func receive(_ datagram: [UInt8], from source: SocketAddress) {
            datagram.withUnsafeBytes { transport.receive(datagram: $0, from: source) { _, message in delivered.append(message) } }
        }
    }

    private func pair(_ a: Node, _ b: Node) {
        let table = [a.transport.id: a.address, b.transport.id: b.address]
        a.transport.setPeers(table)
        b.transport.setPeers(table)
    }

    /// One datagram from `a` to `b` carrying `message`.
    private func datagram(from a: Node, to b: Node, _ message: Message = .fetch(from: 3)) throws -> [UInt8] {
        try a.transport.send(message, to: b.transport.id)
        try a.transport.flush()
        return a.sent.removeLast().1
    }

    func testASealedDatagramIsDeliveredOnceAndAReplayIsRefused() throws {
        let (a, b) = (try Node(1, keys: [Self.keyA]), try Node(2, keys: [Self.keyA]))
        pair(a, b)
        let bytes = try datagram(from: a, to: b)
        XCTAssertEqual(bytes[3], 3, "version 3: sealed")
        b.receive(bytes, from: a.address)
        XCTAssertEqual(b.delivered, [.fetch(from: 3)])
        b.receive(bytes, from: a.address)
        XCTAssertEqual(b.delivered.count, 1, "the same datagram again is a replay")
        XCTAssertEqual(b.transport.stats.droppedReplayed, 1)
        // Later datagrams, and an earlier one that arrives late but within the window, pass.
        let (first, second) = (try datagram(from: a, to: b, .fetch(from: 4)), try datagram(from: a, to: b, .fetch(from: 5)))
        b.receive(second, from: a.address)
        b.receive(first, from: a.address)
        XCTAssertEqual(b.delivered, [.fetch(from: 3), .fetch(from: 5), .fetch(from: 4)])
    }

    func testEveryChangedByteIsRefused() throws {
        let (a, b) = (try Node(1, keys: [Self.keyA]), try Node(2, keys: [Self.keyA]))
        pair(a, b)
        let bytes = try datagram(from: a, to: b, Message.accept(ballot: Ballot(round: 1, leader: PeerID(raw: 1)), instance: 9,
                                                                    batch: [Proposal(origin: PeerID(raw: 1), seq: 1, tag: 1, payload: [1, 2, 3])], commit: 8))
        var refused = 0
        for index in PeerDatagram.headerSize..<bytes.count {   // the header has its own CRC
            var changed = bytes
            changed[index] ^= 0x01
            b.receive(changed, from: a.address)
            refused = b.transport.stats.droppedBadMAC
        }
        XCTAssertEqual(refused, bytes.count - PeerDatagram.headerSize, "every flipped bit after the header fails the MAC")
        XCTAssertEqual(b.delivered, [])
    }

    func testAWrongKeyAMissingSealAndASealWithoutAKeyAreRefused() throws {
        let (a, b) = (try Node(1, keys: [Self.keyA]), try Node(2, keys: [Self.keyB]))
        pair(a, b)
        b.receive(try datagram(from: a, to: b), from: a.address)
        XCTAssertEqual(b.transport.stats.droppedBadMAC, 1, "another key")
        let (plain, keyed) = (try Node(3, keys: nil), try Node(4, keys: [Self.keyA]))
        pair(plain, keyed)
        keyed.receive(try datagram(from: plain, to: keyed), from: plain.address)
        XCTAssertEqual(keyed.transport.stats.droppedUnsealed, 1, "no seal where a key is required")
        plain.receive(try datagram(from: keyed, to: plain), from: keyed.address)
        XCTAssertEqual(plain.transport.stats.droppedSealedWithoutKey, 1, "a seal this node cannot check")
        XCTAssertEqual(b.delivered + keyed.delivered + plain.delivered, [])
    }

    /// A rotation: the receiver holds both keys, the sender seals with the new one.
    func testDuringARotationEitherKeyIsAccepted() throws {
        let (a, b) = (try Node(1, keys: [Self.keyB, Self.keyA]), try Node(2, keys: [Self.keyA, Self.keyB]))
        pair(a, b)
        b.receive(try datagram(from: a, to: b), from: a.address)
        XCTAssertEqual(b.delivered.count, 1, "sealed with keyB, the receiver's second key")
        a.receive(try datagram(from: b, to: a), from: b.address)
        XCTAssertEqual(a.delivered.count, 1, "sealed with keyA, the receiver's second key")
        b.transport.replaceKeys(try PeerKeys(keys: [Self.keyA]))
        b.receive(try datagram(from: a, to: b), from: a.address)
        XCTAssertEqual(b.delivered.count, 1, "keyB retired: refused")
        XCTAssertEqual(b.transport.stats.droppedBadMAC, 1)
    }

    func testAStreamRecordIsSealedAndAReplayedOneRefused() throws {
        let (a, b) = (try Node(1, keys: [Self.keyA]), try Node(2, keys: [Self.keyA]))
        pair(a, b)
        var item: [UInt8] = []
        a.transport.streamLargeMessage = { _, streamed in item = streamed; return true }
        let large = Message.accept(ballot: Ballot(round: 1, leader: PeerID(raw: 1)), instance: 9,
                                   batch: [Proposal(origin: PeerID(raw: 1), seq: 1, tag: 1, payload: Array(repeating: 7, count: 100_000))],
                                   commit: 8)
        try a.transport.send(large, to: b.transport.id)
        let record = a.transport.recordHeader + item + a.transport.recordTrailer(for: item)
        let source = try SocketAddress.resolve("127.0.0.1:40000")   // a's host, a kernel-chosen port
        var got: [Message] = []
        XCTAssertNotNil(record.withUnsafeBytes { b.transport.receiveStreamed($0, from: source) { got.append($1) } })
        XCTAssertEqual(got, [large])
        XCTAssertNil(record.withUnsafeBytes { b.transport.receiveStreamed($0, from: source) { got.append($1) } }, "a replay")
        var changed = record
        changed[changed.count / 2] ^= 0x80
        XCTAssertNil(changed.withUnsafeBytes { b.transport.receiveStreamed($0, from: source) { got.append($1) } }, "a changed byte")
        XCTAssertEqual(got.count, 1)
        XCTAssertEqual(b.transport.stats.droppedReplayed, 1)
        XCTAssertEqual(b.transport.stats.droppedBadMAC, 1)
    }

    func testAKeyFileHoldsOneOrTwoHexKeysOfSixteenBytesOrMore() throws {
        let key = String(repeating: "ab", count: 16)
        XCTAssertNoThrow(try PeerKeys.parse("# the cluster's key\n\(key)\n"))
        XCTAssertNoThrow(try PeerKeys.parse("\(key)\n\n\(String(repeating: "CD", count: 32))\n"))
        XCTAssertThrowsError(try PeerKeys.parse(""), "no key")
        XCTAssertThrowsError(try PeerKeys.parse(String(repeating: "ab", count: 15)), "fifteen bytes")
        XCTAssertThrowsError(try PeerKeys.parse("\(key)x"), "not hex")
        XCTAssertThrowsError(try PeerKeys.parse([key, key, key].joined(separator: "\n")), "three keys")
    }

    /// RFC 4231, test case 2, twice through one context (each MAC starts afresh under its key).
    func testHMACSHA256MatchesTheRFCVectorsAgainAndAgain() throws {
        let mac = try XCTUnwrap(HMACSHA256(key: Array("Jefe".utf8)))
        for _ in 0..<2 {
            var out = [UInt8](repeating: 0, count: 32)
            let data = Array("what do ya want for nothing?".utf8)
            data.withUnsafeBytes { data in out.withUnsafeMutableBytes { mac.authenticate(data, into: $0) } }
            XCTAssertEqual(out.map { String(format: "%02x", $0) }.joined(),
                           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        }
    }
}
