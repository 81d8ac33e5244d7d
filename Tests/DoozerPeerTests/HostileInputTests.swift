import DoozerConsensus
import DoozerPeer
import DoozerSystem
import XCTest
import DoozerTestSupport

/// Datagrams nobody should send: each is dropped and counted, none crashes, memory stays bounded.
final class HostileInputTests: XCTestCase {
    func testDatagramsFailingTheHeaderChecksAreDroppedByReason() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        connect([a, b])
        let stranger = try RawSocket()
        let fetch = Bytes.whole(.fetch(from: 1))
        let cluster = b.clusterID
        let other = try openTransport(9, cluster: "other")
        XCTAssertNotEqual(other.clusterID, cluster)
        stranger.send(Array(Bytes.header(cluster: cluster, sender: a.id).prefix(19)), to: b)   // short
        stranger.send(Bytes.header(cluster: cluster, sender: a.id, magic: Array("DZQ".utf8) + [1]) + fetch, to: b)
        stranger.send(Bytes.header(cluster: cluster, sender: a.id, magic: Array("DZP".utf8) + [1]) + fetch, to: b)   // version 1: no checksums
        stranger.send(Bytes.datagram(cluster: other.clusterID, sender: a.id, items: [fetch]), to: b)
        stranger.send(Bytes.datagram(cluster: cluster, sender: PeerID(raw: 999), items: [fetch]), to: b)
        stranger.send(Bytes.datagram(cluster: cluster, sender: a.id, items: [fetch]), to: b)      // a's id, not a's address
        var flipped = Bytes.datagram(cluster: cluster, sender: a.id, items: [fetch])
        flipped[13] ^= 0x04                                                                       // a bit of the sender id
        sendRaw(flipped, from: a.fd, to: b.address)
        let pump = try Pump([a, b])
        try pump.run { b.channelStats.datagramsReceived == 7 }

        let stats = b.stats
        XCTAssertEqual(stats.droppedBadHeader, 4, "the damaged sender id fails the header's checksum: no stranger, no notice")
        XCTAssertEqual(stats.droppedOtherCluster, 1)
        XCTAssertEqual(stats.droppedUnknownSender, 1)
        XCTAssertEqual(stats.droppedAddressMismatch, 1)
        XCTAssertEqual(stats.messagesReceived, 0)
        XCTAssertEqual(pump.delivered[1].count, 0)
        // The last two came from the same address in the same second: one notice.
        XCTAssertEqual(stats.noticesSent, 1)
        XCTAssertEqual(stats.noticesSuppressed, 1)

        try a.send(.fetch(from: 2), to: b.id)
        try pump.run { pump.delivered[1].count == 1 }
        XCTAssertEqual(pump.messages(at: 1), [.fetch(from: 2)])
    }

    func testBrokenItemsFromAMemberAreDroppedByReason() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        connect([a, b])
        let cluster = b.clusterID
        func send(_ items: [[UInt8]]) { sendRaw(Bytes.datagram(cluster: cluster, sender: a.id, items: items), from: a.fd, to: b.address) }
        func sendBytes(_ bytes: [UInt8]) { sendRaw(Bytes.header(cluster: cluster, sender: a.id) + bytes, from: a.fd, to: b.address) }

        sendBytes([0, 0, 0, 9, 1, 8])                                        // framing runs past the end
        send([[]])                                                           // an item with no kind
        send([[9, 1, 2, 3]])                                                 // an unknown kind
        send([[2, 1, 2, 3]])                                                 // a fragment cut inside its header
        send([[3, 7]])                                                       // an unknown control
        send([[1] + Bytes.sealed([200, 1, 2])])                              // a message PeerCodec refuses
        var damaged = Bytes.whole(.fetch(from: 4))
        damaged[2] ^= 0x10
        send([damaged])                                                      // a bit flipped on the way
        send([[1, 8]])                                                       // shorter than a checksum
        send([Bytes.whole(.fetch(from: 3))])                                 // then a good one
        let pump = try Pump([a, b])
        try pump.run { pump.delivered[1].count == 1 }
        XCTAssertEqual(pump.messages(at: 1), [.fetch(from: 3)])
        XCTAssertEqual(b.stats.droppedMalformed, 5)
        XCTAssertEqual(b.stats.droppedDecodeError, 1)
        XCTAssertEqual(b.stats.droppedChecksum, 2, "the CRC32C catches what UDP's 16-bit checksum let through")
    }

    func testInconsistentFragmentsDropTheirMessage() throws {
        let (a, b) = (try openTransport(1), try openTransport(2))
        connect([a, b])
        let cluster = b.clusterID
        func send(_ item: [UInt8]) { sendRaw(Bytes.datagram(cluster: cluster, sender: a.id, items: [item]), from: a.fd, to: b.address) }
        let piece = [UInt8](repeating: 1, count: 1000)

        send(Bytes.fragment(id: 1, index: 0, count: 4, total: 4000, piece: Array(piece.prefix(999))))   // wrong length
        send(Bytes.fragment(id: 2, index: 0, count: 1, total: 1000, piece: piece))                      // one fragment
        send(Bytes.fragment(id: 3, index: 4, count: 4, total: 4000, piece: piece))                      // index ≥ count
        send(Bytes.fragment(id: 4, index: 0, count: 5, total: 4, piece: [1]))                           // empty pieces
        send(Bytes.fragment(id: 5, index: 0, count: 4, total: 4000, piece: piece))                      // stored…
        send(Bytes.fragment(id: 5, index: 1, count: 5, total: 4000, piece: Array(piece.prefix(800))))   // …until another count
        send(Bytes.fragment(id: 6, index: 0, count: 4, total: 4000, piece: piece))
        send(Bytes.fragment(id: 6, index: 0, count: 4, total: 4000, piece: piece))                      // duplicate
        send(Bytes.fragment(id: 7, index: 0, count: 2, total: UInt32(16 << 20) + 1, piece: piece))      // over the maximum
        let pump = try Pump([a, b])
        try pump.run { b.channelStats.datagramsReceived == 9 }

        let stats = b.stats
        XCTAssertEqual(stats.droppedInconsistentFragment, 5)
        XCTAssertEqual(stats.duplicateFragments, 1)
        XCTAssertEqual(stats.droppedTooLarge, 1)
        XCTAssertEqual(stats.reassemblyBytes, 4000)   // message 6 only
        XCTAssertEqual(pump.delivered[1].count, 0)

        // Fragments written by hand from the documented format make a message.
        let message = Message.forward([Samples.proposal(size: 10_000, seed: 3)])
        for item in Bytes.fragments(of: Bytes.sealed(message), id: 8, count: 3).reversed() { send(item) }
        try pump.run { pump.delivered[1].count == 1 }
        XCTAssertEqual(pump.messages(at: 1), [message])
        XCTAssertEqual(b.stats.messagesReassembled, 1)

        b.setPeers([b.id: b.address])   // a leaves: its incomplete message goes
        XCTAssertEqual(b.stats.reassemblyBytes, 0)
    }

    func testReassemblyMemoryStaysBoundedUnderThousandsOfIncompleteMessages() throws {
        var limits = PeerTransport.Limits()
        limits.maxMessageSize = 64 << 10
        limits.maxReassemblyBytes = 100_000   // two messages of 40 000 bytes; four per sender
        let b = try openTransport(2, limits: limits)
        let senders = [try openTransport(1), try openTransport(3)]
        connect(senders + [b])
        let pump = try Pump([b])
        let piece = [UInt8](repeating: 7, count: 1000)
        let messages = 2000
        for round in 0..<(messages / 100) {
            for i in (round * 100)..<((round + 1) * 100) {
                let sender = senders[i % 2]
                let item = Bytes.fragment(id: UInt32(i), index: 0, count: 40, total: 40_000, piece: piece)
                sendRaw(Bytes.datagram(cluster: b.clusterID, sender: sender.id, items: [item]), from: sender.fd, to: b.address)
            }
            try pump.run { b.stats.fragmentsReceived == (round + 1) * 100 }
            XCTAssertLessThanOrEqual(b.stats.reassemblyBytes, limits.maxReassemblyBytes)
        }
        XCTAssertEqual(b.stats.reassemblyBytes, 80_000)
        XCTAssertEqual(b.stats.droppedReassemblyEvicted, messages - 2)
        XCTAssertEqual(b.stats.messagesReceived, 0)
    }

    func testRandomBytesNeverCrashAndNeverDeliver() throws {
        var limits = PeerTransport.Limits()
        limits.maxMessageSize = 1 << 20
        limits.maxReassemblyBytes = 1 << 20
        let (a, b) = (try openTransport(1), try openTransport(2, limits: limits))
        connect([a, b])
        let stranger = try RawSocket()
        let pump = try Pump([a, b])
        var rng = SplitMix64(seed: 0x5EED)
        func noise(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) } }
        let header = Bytes.header(cluster: b.clusterID, sender: a.id)
        for round in 0..<10 {
            for _ in 0..<50 {
                stranger.send(noise(Int.random(in: 0..<300, using: &rng)), to: b)
                // From a member: a good header, then noise, or items of noise of a plausible kind.
                let kind = UInt8.random(in: 1...3, using: &rng)
                let item = [kind] + noise(Int.random(in: 0..<40, using: &rng))
                let tail = Bool.random(using: &rng) ? noise(Int.random(in: 0..<300, using: &rng))
                                                    : withUnsafeBytes(of: UInt32(item.count).bigEndian, Array.init) + item
                sendRaw(header + tail, from: a.fd, to: b.address)
            }
            try pump.run { b.channelStats.datagramsReceived == (round + 1) * 100 }
            XCTAssertLessThanOrEqual(b.stats.reassemblyBytes, limits.maxReassemblyBytes)
        }
        let stats = b.stats
        XCTAssertEqual(stats.droppedBadHeader + stats.droppedOtherCluster + stats.droppedUnknownSender
                       + stats.droppedAddressMismatch, 500)
        XCTAssertEqual(stats.messagesReceived, pump.delivered[1].count)

        try a.send(.tooOld(oldest: 4), to: b.id)
        try pump.run { pump.delivered[1].last?.message == .tooOld(oldest: 4) }
    }
}
