import DoozerConsensus
import DoozerPeer
import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A transport of cluster `cluster` on 127.0.0.1 with a kernel-chosen port.
func openTransport(_ id: UInt64, cluster: String = "test", limits: PeerTransport.Limits = .init(),
                   clock: @escaping () -> Int64 = { 0 }) throws -> PeerTransport {
    try PeerTransport.open(address: try SocketAddress.resolve("127.0.0.1:0"), cluster: cluster, id: PeerID(raw: id),
                           limits: limits, clock: clock)
}

/// Gives every transport the same table: all of them.
func connect(_ transports: [PeerTransport]) {
    let table = Dictionary(uniqueKeysWithValues: transports.map { ($0.id, $0.address) })
    for transport in transports { transport.setPeers(table) }
}

/// A settable clock for the notice rate limit.
final class ManualClock {
    var now: Int64 = 1_000_000_000
    var read: () -> Int64 { { self.now } }
}

/// Drives transports as an event loop would: flush all, receive on all, repeat — at once while
/// the last round received something (its answers are still to flush) or a backlog remains,
/// otherwise after waiting on epoll for readiness. Gives up after three waits that see nothing
/// ready (a second each): no sleeps.
final class Pump {
    let transports: [PeerTransport]
    /// What each transport (by index) delivered, in order.
    private(set) var delivered: [[(from: PeerID, message: Message)]]
    private let epoll: Epoll

    init(_ transports: [PeerTransport]) throws {
        self.transports = transports
        delivered = transports.map { _ in [] }
        epoll = try Epoll(capacity: transports.count)
        for (index, transport) in transports.enumerated() { try epoll.add(transport.fd, .readable, token: UInt64(index)) }
    }

    func messages(at index: Int) -> [Message] { delivered[index].map(\.message) }

    /// One round: flush every transport, then drain every socket. Returns the datagrams taken.
    @discardableResult
    func round() throws -> Int {
        for transport in transports { try transport.flush() }
        var taken = 0
        for (index, transport) in transports.enumerated() {
            var last = 0
            repeat {
                last = try transport.receive(budget: 64) { delivered[index].append(($0, $1)) }
                taken += last
            } while last == 64
        }
        return taken
    }

    func run(until done: () -> Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        var idleWaits = 0
        while true {
            let taken = try round()
            if done() { return }
            if taken > 0 || transports.contains(where: \.hasBacklog) { continue }
            guard idleWaits < 3 else { return XCTFail("gave up waiting", file: file, line: line) }
            if try epoll.wait(timeoutMilliseconds: 1000) == 0 { idleWaits += 1 }
        }
    }
}

/// A UDP socket that is no transport: sends whatever bytes a test makes.
final class RawSocket {
    let fd: FileDescriptor
    let address: SocketAddress

    init() throws {
        fd = try Socket.bindUDP(try SocketAddress.resolve("127.0.0.1:0"), receiveBuffer: 1 << 20, sendBuffer: 1 << 20)
        address = try Socket.localAddress(fd)
    }

    deinit { fd.close() }

    func send(_ bytes: [UInt8], to transport: PeerTransport) { sendRaw(bytes, from: fd, to: transport.address) }
}

/// Sends `bytes` as one datagram from `fd` (a transport's own, to forge from its address).
func sendRaw(_ bytes: [UInt8], from fd: FileDescriptor, to address: SocketAddress, file: StaticString = #filePath, line: UInt = #line) {
    let sent = bytes.withUnsafeBytes { raw in
        address.withSockaddr { sendto(fd.rawValue, raw.baseAddress, raw.count, 0, $0, $1) }
    }
    XCTAssertEqual(sent, bytes.count, "sendto", file: file, line: line)
}

// ---- the datagram format, written out by hand from its documentation --------------------------

enum Bytes {
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian, Array.init)
    }

    static func header(cluster: UInt64, sender: PeerID, magic: [UInt8] = Array("DZP".utf8) + [2]) -> [UInt8] {
        let fields = magic + le(cluster) + le(sender.raw)
        return fields + le(CRC32C.checksum(fields))
    }

    /// A header and items, each framed with a 4-byte big-endian length.
    static func datagram(cluster: UInt64, sender: PeerID, items: [[UInt8]]) -> [UInt8] {
        header(cluster: cluster, sender: sender) + items.flatMap { withUnsafeBytes(of: UInt32($0.count).bigEndian, Array.init) + $0 }
    }

    /// A message's encoding followed by its CRC32C, as it travels (whole or in fragments).
    static func sealed(_ message: Message) -> [UInt8] { sealed(PeerCodec.encode(message)) }
    static func sealed(_ encoded: [UInt8]) -> [UInt8] { encoded + le(CRC32C.checksum(encoded)) }

    static func whole(_ message: Message) -> [UInt8] { [1] + sealed(message) }

    static func fragment(id: UInt32, index: UInt16, count: UInt16, total: UInt32, piece: [UInt8]) -> [UInt8] {
        [2] + le(id) + le(index) + le(count) + le(total) + piece
    }

    static let notMember: [UInt8] = [3, 1]

    /// The fragments of `message` in `count` pieces of `ceil(total / count)` bytes.
    static func fragments(of message: [UInt8], id: UInt32, count: Int) -> [[UInt8]] {
        let piece = (message.count + count - 1) / count
        return (0..<count).map { index in
            let range = (index * piece)..<min(message.count, (index + 1) * piece)
            return fragment(id: id, index: UInt16(index), count: UInt16(count), total: UInt32(message.count),
                            piece: Array(message[range]))
        }
    }
}

// ---- sample messages ---------------------------------------------------------------------------

enum Samples {
    static let ballot = Ballot(round: 7, leader: PeerID(raw: 0xABCD_EF01))
    static let proposal = Proposal(origin: PeerID(raw: 42), seq: 3, tag: 99, payload: Array("set /a 1".utf8))

    /// One of each kind (two of `entries`: with and without a leader).
    static let everyKind: [Message] = [
        .prepare(ballot: ballot, from: 10),
        .promise(ballot: ballot, from: 10, decided: 9,
                 accepted: [AcceptedEntry(instance: 10, ballot: ballot, batch: [proposal])]),
        .reject(ballot: ballot, promised: Ballot(round: 8, leader: PeerID(raw: 1)), decided: 12),
        .accept(ballot: ballot, instance: 11, batch: [proposal, proposal], commit: 10),
        .accepted(ballot: ballot, instance: 11),
        .commit(ballot: ballot, upTo: 11),
        .forward([proposal]),
        .fetch(from: 5),
        .entries(decided: 11, leader: ballot.leader, [DecidedEntry(instance: 10, batch: [proposal])]),
        .entries(decided: 11, leader: nil, []),
        .tooOld(oldest: 3),
    ]

    /// A proposal of `size` patterned bytes, different for each `seed`.
    static func proposal(size: Int, seed: Int) -> Proposal {
        Proposal(origin: PeerID(raw: 7), seq: UInt64(seed), tag: UInt64(seed),
                 payload: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) })
    }
}
