import DoozerConsensus
import DoozerReactor
import DoozerSystem

/// The cluster's peer transport: consensus `Message`s between the nodes of one cluster over
/// the node's UDP socket on its `-l` address (format: `PeerDatagram`). A message too large for
/// one datagram goes to `streamLargeMessage` when the owner set it (a TCP stream to the peer,
/// which hands records back through `receiveStreamed`), and in fragments otherwise.
///
/// Owns the socket and its `DatagramChannel`, the address table, a scratch buffer for
/// encoding, the backlog of fragments waiting for the outbox, the reassembly table and the
/// notice rate limiter. The owner (the server's event loop) registers `fd`, calls `receive`
/// when it is readable and `flush` once per iteration — and keeps iterating while
/// `hasBacklog` (e.g. by watching `fd` for writable too).
///
/// It must never block (a non-blocking socket, no retries: a loss is counted and the protocol
/// above retransmits), never trust a datagram (magic, version, cluster, with a peer key the
/// MAC and the replay window, and the sender's id against the source address are checked
/// before any item is read, every length before it is used) and never hold unbounded memory: every table and queue has a bound in `Limits`.
/// Not thread-safe.
public final class PeerTransport {
    /// Every bound the transport keeps.
    public struct Limits: Sendable {
        /// Largest encoded message sent or accepted: 16 MiB by default; at most 4 GiB − 1.
        /// Larger ones are refused by `send` and dropped on receipt.
        public var maxMessageSize = 16 << 20
        /// Messages in reassembly per sender: 4; a new one evicts that sender's oldest.
        public var maxReassembliesPerSender = 4
        /// Bytes of all messages in reassembly (each counted whole from its first fragment):
        /// 64 MiB, and at least `maxMessageSize`; a new message beyond it evicts the oldest.
        public var maxReassemblyBytes = 64 << 20
        /// Bytes of fragmented messages waiting for the outbox: 64 MiB; `send` refuses beyond.
        public var maxBacklogBytes = 64 << 20
        /// Source addresses remembered for rate-limiting notices (one per second each): 1024.
        public var maxNoticeSources = 1024
        /// Datagrams taken per recvmmsg: 64.
        public var receiveSlots = 64
        /// Datagrams one `flush` sends at most, in one sendmmsg: 64. Fragments take at most a
        /// quarter of the receive buffer per flush besides (see `fragmentBytesPerFlush`).
        public var sendSlots = 64
        /// Bytes per datagram, header included: `DatagramChannel.maxUDPPayload`.
        public var maxDatagram = DatagramChannel.maxUDPPayload
        /// Bytes asked for as SO_RCVBUF and SO_SNDBUF: 4 MiB (the kernel caps at rmem_max/wmem_max).
        public var socketBuffer = 4 << 20

        public init() {}
    }

    /// Why `send` did not queue a message. Each is also counted in `stats`.
    public enum SendError: Error, Equatable, Sendable {
        /// The peer is not in the address table.
        case unknownDestination
        /// The encoded message has more bytes than `Limits.maxMessageSize`.
        case tooLarge(bytes: Int)
        /// Every outbox slot is taken until the next `flush`.
        case outboxFull
        /// Fragmented messages already waiting fill `Limits.maxBacklogBytes`.
        case backlogFull
    }

    /// Counters since the transport was opened (messages, not datagrams, unless said).
    public struct Stats: Equatable, Sendable {
        /// Messages queued by `send`, and their encoded bytes.
        public var messagesSent = 0
        public var bytesSent = 0
        /// Fragments put in the outbox.
        public var fragmentsSent = 0
        /// Messages handed to `streamLargeMessage`, and stream records delivered.
        public var messagesStreamed = 0
        public var recordsReceived = 0
        /// Messages delivered, and their encoded bytes.
        public var messagesReceived = 0
        public var bytesReceived = 0
        /// Fragments from authenticated senders within `maxMessageSize`, and messages rebuilt
        /// from them.
        public var fragmentsReceived = 0
        public var messagesReassembled = 0
        /// Fragments received a second time, ignored.
        public var duplicateFragments = 0
        /// "Not a member" notices sent, withheld by the rate limit, and received from peers
        /// in the address table.
        public var noticesSent = 0
        public var noticesSuppressed = 0
        public var noticesReceived = 0

        /// Datagrams shorter than the header, or with another magic or version.
        public var droppedBadHeader = 0
        /// Datagrams of another cluster.
        public var droppedOtherCluster = 0
        /// Datagrams whose sender id is not in the address table.
        public var droppedUnknownSender = 0
        /// With a peer key: datagrams and records without one (version 2), with a MAC none of
        /// the keys made, or with a counter seen before (a replay). Without one: sealed ones.
        public var droppedUnsealed = 0
        public var droppedBadMAC = 0
        public var droppedReplayed = 0
        public var droppedSealedWithoutKey = 0
        /// Datagrams whose sender id is in the table with another address.
        public var droppedAddressMismatch = 0
        /// Authenticated datagrams whose framing is broken, and items of an unknown kind or cut
        /// short.
        public var droppedMalformed = 0
        /// Messages whose CRC32C did not match: damaged on the way (UDP's own checksum is 16 bits).
        public var droppedChecksum = 0
        /// Messages `PeerCodec` refused.
        public var droppedDecodeError = 0
        /// Received messages or fragments announcing more than `maxMessageSize` bytes.
        public var droppedTooLarge = 0
        /// Fragments that disagreed with their split or their message (which is dropped too).
        public var droppedInconsistentFragment = 0
        /// Incomplete messages given up by the reassembly bounds or because their sender left
        /// the table.
        public var droppedReassemblyEvicted = 0
        /// Messages `send` refused: too large, unknown destination, outbox or backlog full.
        public var refusedTooLarge = 0
        public var droppedUnknownDestination = 0
        public var droppedOutboxFull = 0
        public var droppedBacklogFull = 0

        /// Bytes now held for reassembly and for the backlog.
        public var reassemblyBytes = 0
        public var backlogBytes = 0
    }

    public let id: PeerID
    /// FNV-1a of the cluster name: datagrams with another are dropped.
    public let clusterID: UInt64
    /// The bound address (with the port the kernel chose for port 0).
    public let address: SocketAddress
    public let limits: Limits
    /// The receive buffer the kernel granted (SO_RCVBUF; at most twice net.core.rmem_max):
    /// what a burst of datagrams to this node may hold before the kernel drops them.
    public let receiveBuffer: Int
    /// Fragment bytes one `flush` sends at most (at least one fragment): a quarter of the
    /// receive buffer, peers' taken to be like this node's. Large messages then reach a peer
    /// at a pace its buffer absorbs, whatever net.core.rmem_max allows, instead of in bursts
    /// its kernel drops.
    public let fragmentBytesPerFlush: Int
    /// Called for a "not a member" notice from a peer in the address table: that peer no
    /// longer counts this node as a member.
    public var onNotMember: ((PeerID) -> Void)?
    /// Takes a message too large for one datagram, when set: the owner's stream to the peer
    /// at that address, given the record's item (the kind byte, then the message; the record
    /// starts with `recordHeader`). False when that stream cannot take it now: the message is
    /// then sent in fragments.
    public var streamLargeMessage: ((SocketAddress, [UInt8]) -> Bool)?
    /// What every stream record from this node starts with: its datagram header.
    public var recordHeader: [UInt8] { header }
    /// Encoded bytes of the largest message sent in one datagram; larger ones are streamed or
    /// fragmented.
    public var largestDatagramMessage: Int { maxWhole }

    /// The socket, for the owner's event loop; the transport closes it.
    public var fd: FileDescriptor { channel.fd }
    /// The channel's own counters: datagrams, syscalls, truncation, backpressure.
    public var channelStats: DatagramChannel.Stats { channel.stats }
    /// Fragments wait for a later `flush`.
    public var hasBacklog: Bool { !backlog.isEmpty }

    public var stats: Stats {
        var stats = counters
        stats.droppedReassemblyEvicted = reassembly.evictions
        stats.reassemblyBytes = reassembly.bytes
        stats.backlogBytes = backlogBytes
        return stats
    }

    private let channel: DatagramChannel
    private let header: [UInt8]
    /// The cluster's peer keys (`-peerkey`); nil: datagrams are checked but not sealed.
    private var keys: PeerKeys?
    /// The counter of the next datagram or record this node seals.
    private var sealCounter: UInt64
    /// What each sender's sealed datagrams, and separately its records, carried lately.
    private var datagramWindows: [PeerID: ReplayWindow] = [:]
    private var recordWindows: [PeerID: ReplayWindow] = [:]
    private let clock: () -> Int64
    /// Largest message sent whole, and largest piece of a fragment.
    private let maxWhole: Int
    private let maxPiece: Int
    private var peers: [PeerID: SocketAddress] = [:]
    private var counters = Stats()
    /// The kind byte and the encoded message being sent; grows to the largest message sent
    /// whole (under one datagram).
    private var scratch: [UInt8] = []
    /// One fragment item being built, `maxDatagram` bytes.
    private let fragmentScratch: UnsafeMutableRawBufferPointer
    /// Fragmented messages in order of `send`, the first one partly sent.
    private var backlog: [Outgoing] = []
    private var backlogBytes = 0
    private var nextMessageID: UInt32
    private var reassembly: ReassemblyTable
    private var noticeLimiter: NoticeLimiter

    private struct Outgoing {
        let destination: SocketAddress
        let id: UInt32
        /// A whole-message item: the kind byte, then the message.
        let item: [UInt8]
        let count: Int
        var next = 0
        var size: Int { item.count - 1 }
    }

    /// Binds a UDP socket on `address` and returns the transport of node `id` in `cluster`.
    /// - Parameters:
    ///   - clock: monotonic nanoseconds, read only to rate-limit notices.
    ///   - firstMessageID: the id of the first fragmented message; random by default, so a
    ///     restarted node's fragments do not join messages its previous run left incomplete.
    ///   - keys: the cluster's peer keys: every datagram and record is sealed and checked.
    ///   - firstCounter: the counter of the first sealed datagram; the wall clock in
    ///     nanoseconds by default, so a restarted node's counters are above its last run's.
    public static func open(address: SocketAddress, cluster: String, id: PeerID, limits: Limits = Limits(),
                            clock: @escaping () -> Int64 = ProcessEnvironment.monotonicNanoseconds,
                            firstMessageID: UInt32 = .random(in: .min ... .max),
                            keys: PeerKeys? = nil,
                            firstCounter: UInt64 = ProcessEnvironment.wallClockNanoseconds()) throws(SystemError) -> PeerTransport {
        let fd = try Socket.bindUDP(address, receiveBuffer: limits.socketBuffer, sendBuffer: limits.socketBuffer)
        let bound: SocketAddress, receiveBuffer: Int
        do {
            bound = try Socket.localAddress(fd)
            receiveBuffer = try Socket.receiveBufferSize(fd)
        } catch {
            fd.close()
            throw error
        }
        let channel = DatagramChannel(fd: fd, receiveSlots: limits.receiveSlots, sendSlots: limits.sendSlots,
                                      maxDatagram: limits.maxDatagram)
        return PeerTransport(channel: channel, address: bound, receiveBuffer: receiveBuffer, cluster: cluster, id: id,
                             limits: limits, clock: clock, firstMessageID: firstMessageID, keys: keys, firstCounter: firstCounter)
    }

    /// The transport of node `id` at `address` on a simulated network: every check, codec,
    /// fragmentation and reassembly rule of a socket's, with each datagram handed to `send`
    /// (bytes valid only during the call) and received ones given to `receive(datagram:from:_:)`.
    package static func simulated(address: SocketAddress, cluster: String, id: PeerID, limits: Limits = Limits(),
                                 clock: @escaping () -> Int64, firstMessageID: UInt32 = 1, keys: PeerKeys? = nil,
                                 firstCounter: UInt64 = 1,
                                 send: @escaping (SocketAddress, UnsafeRawBufferPointer) -> Void) -> PeerTransport {
        let channel = DatagramChannel(simulated: send, sendSlots: limits.sendSlots, maxDatagram: limits.maxDatagram)
        return PeerTransport(channel: channel, address: address, receiveBuffer: limits.socketBuffer, cluster: cluster, id: id,
                             limits: limits, clock: clock, firstMessageID: firstMessageID, keys: keys, firstCounter: firstCounter)
    }

    private init(channel: DatagramChannel, address: SocketAddress, receiveBuffer: Int, cluster: String, id: PeerID,
                 limits: Limits, clock: @escaping () -> Int64, firstMessageID: UInt32, keys: PeerKeys?, firstCounter: UInt64) {
        self.receiveBuffer = receiveBuffer
        fragmentBytesPerFlush = max(1, receiveBuffer / 4)
        let overhead = PeerDatagram.headerSize + PeerDatagram.framingSize + (keys == nil ? 0 : PeerDatagram.trailerSize)
        maxWhole = limits.maxDatagram - overhead - 1
        maxPiece = limits.maxDatagram - overhead - PeerDatagram.fragmentHeaderSize
        precondition(maxPiece > 0, "a datagram must hold a fragment")
        precondition(limits.maxMessageSize <= Int(UInt32.max)
                     && PeerDatagram.fragmentCount(total: limits.maxMessageSize, maxPiece: maxPiece) <= Int(UInt16.max),
                     "the largest message must fit 65 535 fragments of 4 GiB in all")
        precondition(limits.maxReassemblyBytes >= limits.maxMessageSize, "reassembly must hold the largest message")
        self.channel = channel
        self.address = address
        self.id = id
        self.clusterID = PeerID(nodeID: cluster.utf8).raw   // FNV-1a, as PeerID hashes node ids
        self.limits = limits
        self.clock = clock
        header = PeerDatagram.Header(cluster: clusterID, sender: id, keyed: keys != nil).bytes
        self.keys = keys
        sealCounter = firstCounter
        fragmentScratch = .allocate(byteCount: limits.maxDatagram, alignment: 8)
        nextMessageID = firstMessageID
        reassembly = ReassemblyTable(maxPerSender: limits.maxReassembliesPerSender, maxBytes: limits.maxReassemblyBytes)
        noticeLimiter = NoticeLimiter(capacity: limits.maxNoticeSources)
        scratch.reserveCapacity(1 + maxWhole)
        if keys != nil {
            channel.sealDatagrams(trailerSize: PeerDatagram.trailerSize) { [unowned self] datagram in
                let body = UnsafeRawBufferPointer(rebasing: datagram[..<(datagram.count - PeerDatagram.trailerSize)])
                self.keys!.seal(body, counter: self.nextCounter(),
                                into: UnsafeMutableRawBufferPointer(rebasing: datagram[body.count...]))
            }
        }
    }

    deinit {
        fragmentScratch.deallocate()
    }

    // ---- the address table -------------------------------------------------------------------

    /// Replaces the address table: the peers this node sends to and accepts datagrams from,
    /// each only from its address. Reassembly of messages from peers no longer in it stops.
    public func setPeers(_ table: [PeerID: SocketAddress]) {
        peers = table
        reassembly.removeSenders { table[$0] == nil }
        datagramWindows = datagramWindows.filter { table[$0.key] != nil }
        recordWindows = recordWindows.filter { table[$0.key] != nil }
    }

    // ---- the peer key ------------------------------------------------------------------------

    /// Whether datagrams and records are sealed with a peer key.
    public var isKeyed: Bool { keys != nil }

    /// Replaces the keys of a keyed transport (a rotation: SIGHUP); a transport made without
    /// keys stays without (the datagram format and sizes were chosen when it was made).
    public func replaceKeys(_ new: PeerKeys) {
        precondition(keys != nil, "only a keyed transport takes new keys")
        keys = new
    }

    private func nextCounter() -> UInt64 {
        defer { sealCounter &+= 1 }
        return sealCounter
    }

    /// What a stream record carrying `item` ends with: its trailer when keyed (the record
    /// being `recordHeader`, `item`, this), nothing otherwise. Each call uses a new counter.
    public func recordTrailer(for item: [UInt8]) -> [UInt8] {
        guard let keys else { return [] }
        var trailer = [UInt8](repeating: 0, count: PeerDatagram.trailerSize)
        header.withUnsafeBytes { header in
            item.withUnsafeBytes { item in
                trailer.withUnsafeMutableBytes { keys.seal(header, item, counter: nextCounter(), into: $0) }
            }
        }
        return trailer
    }

    // ---- sending -----------------------------------------------------------------------------

    /// Queues `message` for `peer`. A message that fits one datagram goes into the channel's
    /// outbox (coalesced with others for the same peer); a larger one joins the backlog,
    /// which `flush` cuts into fragments. Nothing is sent before the next `flush`.
    public func send(_ message: Message, to peer: PeerID) throws(SendError) {
        guard let destination = peers[peer] else {
            counters.droppedUnknownDestination += 1
            throw .unknownDestination
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(PeerDatagram.Kind.message.rawValue)
        PeerCodec.encode(message, into: &scratch)
        let checksum = scratch.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[1...])) }
        scratch.appendLittleEndian(checksum)
        let size = scratch.count - 1
        guard size <= limits.maxMessageSize else {
            counters.refusedTooLarge += 1
            throw .tooLarge(bytes: size)
        }
        if size <= maxWhole {
            guard append(scratch, to: destination) else { throw .outboxFull }
        } else if let stream = streamLargeMessage, stream(destination, scratch) {
            counters.messagesStreamed += 1
            scratch = []   // the stream may keep the bytes; the scratch buffer starts again small
            scratch.reserveCapacity(1 + maxWhole)
        } else {
            guard backlogBytes + size <= limits.maxBacklogBytes else {
                counters.droppedBacklogFull += 1
                throw .backlogFull
            }
            // The backlog keeps the encoded bytes; the scratch buffer starts again small.
            backlog.append(Outgoing(destination: destination, id: nextMessageID, item: scratch,
                                    count: PeerDatagram.fragmentCount(total: size, maxPiece: maxPiece)))
            scratch = []
            scratch.reserveCapacity(1 + maxWhole)
            nextMessageID &+= 1
            backlogBytes += size
        }
        counters.messagesSent += 1
        counters.bytesSent += size
    }

    /// Fills the outbox's free slots with fragments from the backlog, then sends the outbox
    /// with one sendmmsg (see `DatagramChannel.flush`). At most `Limits.sendSlots` datagrams
    /// and `fragmentBytesPerFlush` of fragments leave per call; fragments that did not fit
    /// wait for the next call (`hasBacklog`).
    @discardableResult
    public func flush() throws(SystemError) -> DatagramChannel.FlushResult {
        fillOutboxFromBacklog()
        return try channel.flush()
    }

    private func fillOutboxFromBacklog() {
        var budget = fragmentBytesPerFlush
        while let first = backlog.first {
            for index in first.next..<first.count {
                guard channel.pendingDatagrams < limits.sendSlots, budget > 0 else { return }
                budget -= appendFragment(index, of: first)
                backlog[0].next = index + 1
            }
            backlogBytes -= first.size
            backlog.removeFirst()
        }
    }

    /// Queues fragment `index` of `message`; returns its size in bytes.
    private func appendFragment(_ index: Int, of message: Outgoing) -> Int {
        let range = PeerDatagram.fragmentRange(index: index, count: message.count, total: message.size)!
        PeerDatagram.Fragment.writeHeader(id: message.id, index: index, count: message.count, total: message.size,
                                          into: fragmentScratch)
        let pieceStart = PeerDatagram.fragmentHeaderSize
        message.item.withUnsafeBytes { item in
            // The item's first byte is its kind: the message starts at 1.
            let piece = UnsafeRawBufferPointer(rebasing: item[(1 + range.lowerBound)..<(1 + range.upperBound)])
            UnsafeMutableRawBufferPointer(rebasing: fragmentScratch[pieceStart...]).copyMemory(from: piece)
        }
        let item = UnsafeRawBufferPointer(rebasing: fragmentScratch[..<(pieceStart + range.count)])
        let result = header.withUnsafeBytes { channel.append(item, to: message.destination, header: $0) }
        // A free slot was checked for, and a fragment is sized to fill at most one datagram.
        precondition(result == .queued, "a fragment did not fit an empty outbox slot")
        counters.fragmentsSent += 1
        return item.count
    }

    /// Appends one item for `destination` to the outbox; false (counted) when it is full.
    private func append(_ item: [UInt8], to destination: SocketAddress) -> Bool {
        let result = item.withUnsafeBytes { item in
            header.withUnsafeBytes { channel.append(item, to: destination, header: $0) }
        }
        switch result {
        case .queued:
            return true
        case .full:
            counters.droppedOutboxFull += 1
            return false
        case .tooLarge:
            preconditionFailure("an item sized for one datagram did not fit one")
        }
    }

    // ---- receiving ---------------------------------------------------------------------------

    /// Takes up to `budget` datagrams from the socket, checks each, and hands every message in
    /// them — whole, or completed by its last fragment — to `deliver` with its authenticated
    /// sender, in arrival order. `deliver` may `send` and `flush`, never `receive`. A datagram
    /// from an unknown sender or a wrong address is dropped and answered with a rate-limited
    /// "not a member" notice. Returns how many datagrams were taken: fewer than `budget` means
    /// the socket was drained.
    @discardableResult
    public func receive(budget: Int, _ deliver: (PeerID, Message) -> Void) throws(SystemError) -> Int {
        try channel.receive(budget: budget) { source, datagram in
            accept(datagram, from: source, deliver)
        }
    }

    /// Checks one datagram from `source` that did not come through the socket (a simulated
    /// network's) and hands every message in it to `deliver`, exactly as `receive` does.
    package func receive(datagram: UnsafeRawBufferPointer, from source: SocketAddress, _ deliver: (PeerID, Message) -> Void) {
        accept(datagram, from: source, deliver)
    }

    /// Checks one stream record that arrived on a connection from `source` (the value of a
    /// `Verb.peer` request: the sender's datagram header, then nothing or one whole-message
    /// item, unframed) and hands its message to `deliver`. Authenticated as a datagram is,
    /// except that only the host of `source` must match: a connection's port is the kernel's
    /// pick. Returns the sender, or nil when the record was dropped (counted); a record of the
    /// header alone (a stream's first) delivers nothing.
    public func receiveStreamed(_ record: UnsafeRawBufferPointer, from source: SocketAddress,
                                _ deliver: (PeerID, Message) -> Void) -> PeerID? {
        guard let (sender, body) = authenticate(record, from: source, streamed: true) else { return nil }
        let item = UnsafeRawBufferPointer(rebasing: body[PeerDatagram.headerSize...])
        if !item.isEmpty {
            guard item[0] == PeerDatagram.Kind.message.rawValue else {
                counters.droppedMalformed += 1
                return nil
            }
            accept(item: item, from: sender, deliver)
        }
        counters.recordsReceived += 1
        return sender
    }

    private func accept(_ datagram: UnsafeRawBufferPointer, from source: SocketAddress, _ deliver: (PeerID, Message) -> Void) {
        guard let (sender, body) = authenticate(datagram, from: source, streamed: false) else { return }
        let wellFormed = DatagramChannel.forEachMessage(in: body, headerSize: PeerDatagram.headerSize) { item in
            accept(item: item, from: sender, deliver)
        }
        if !wellFormed { counters.droppedMalformed += 1 }
    }

    /// The sender of a datagram or stream record from `source` and its bytes without the
    /// trailer, once its header, cluster, seal (with a peer key) and sender (against its
    /// address, or only its host when `streamed`), then its counter, check out; nil (counted,
    /// and a stranger's datagram answered) when they do not.
    private func authenticate(_ bytes: UnsafeRawBufferPointer, from source: SocketAddress,
                              streamed: Bool) -> (PeerID, UnsafeRawBufferPointer)? {
        guard let header = PeerDatagram.Header(parsing: bytes) else {
            counters.droppedBadHeader += 1
            return nil
        }
        guard header.cluster == clusterID else {
            counters.droppedOtherCluster += 1
            return nil
        }
        var body = bytes
        var counter: UInt64 = 0
        if let keys {
            guard header.keyed else {
                counters.droppedUnsealed += 1
                return nil
            }
            guard bytes.count >= PeerDatagram.headerSize + PeerDatagram.trailerSize, let sealed = keys.open(bytes) else {
                counters.droppedBadMAC += 1
                return nil
            }
            counter = sealed
            body = UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - PeerDatagram.trailerSize)])
        } else if header.keyed {
            counters.droppedSealedWithoutKey += 1
            return nil
        }
        guard let known = peers[header.sender] else {
            counters.droppedUnknownSender += 1
            if !streamed { answerStranger(source, body) }
            return nil
        }
        guard streamed ? known.hasSameHost(as: source) : known == source else {
            counters.droppedAddressMismatch += 1
            if !streamed { answerStranger(source, body) }
            return nil
        }
        if keys != nil {
            let fresh = streamed ? recordWindows[header.sender, default: ReplayWindow()].accept(counter)
                                 : datagramWindows[header.sender, default: ReplayWindow()].accept(counter)
            guard fresh else {
                counters.droppedReplayed += 1
                return nil
            }
        }
        return (header.sender, body)
    }

    private func accept(item: UnsafeRawBufferPointer, from sender: PeerID, _ deliver: (PeerID, Message) -> Void) {
        switch item.first.flatMap(PeerDatagram.Kind.init(rawValue:)) {
        case .message:
            let message = UnsafeRawBufferPointer(rebasing: item[1...])
            guard message.count <= limits.maxMessageSize else {
                counters.droppedTooLarge += 1
                return
            }
            decode(message, from: sender, deliver)
        case .fragment:
            guard let fragment = PeerDatagram.Fragment(parsing: item) else {
                counters.droppedMalformed += 1
                return
            }
            guard fragment.total <= limits.maxMessageSize else {
                counters.droppedTooLarge += 1
                return
            }
            counters.fragmentsReceived += 1
            switch reassembly.add(fragment, from: sender) {
            case .stored:
                break
            case .duplicate:
                counters.duplicateFragments += 1
            case .inconsistent:
                counters.droppedInconsistentFragment += 1
            case .complete(let bytes):
                counters.messagesReassembled += 1
                bytes.withUnsafeBytes { decode($0, from: sender, deliver) }
            }
        case .control:
            guard item.count == 2, item[1] == PeerDatagram.Control.notMember.rawValue else {
                counters.droppedMalformed += 1
                return
            }
            counters.noticesReceived += 1
            onNotMember?(sender)
        case nil:
            counters.droppedMalformed += 1
        }
    }

    /// Checks a whole message's CRC32C (its last four bytes), then decodes the rest.
    private func decode(_ bytes: UnsafeRawBufferPointer, from sender: PeerID, _ deliver: (PeerID, Message) -> Void) {
        guard bytes.count >= PeerDatagram.checksumSize else {
            counters.droppedChecksum += 1
            return
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count - PeerDatagram.checksumSize)])
        guard CRC32C.checksum(body) == bytes.littleEndian(UInt32.self, at: body.count) else {
            counters.droppedChecksum += 1
            return
        }
        let message: Message
        do { message = try PeerCodec.decode(body) } catch {
            counters.droppedDecodeError += 1
            return
        }
        counters.messagesReceived += 1
        counters.bytesReceived += bytes.count
        deliver(sender, message)
    }

    /// Tells `source`, which sent a datagram of this cluster under an id this node does not
    /// accept from it, that it is not a member — at most once per second per address, and
    /// never in answer to a notice.
    private func answerStranger(_ source: SocketAddress, _ datagram: UnsafeRawBufferPointer) {
        guard !PeerDatagram.carriesControl(datagram) else { return }
        guard noticeLimiter.permit(source, now: clock()) else {
            counters.noticesSuppressed += 1
            return
        }
        if append(PeerDatagram.notMemberItem, to: source) { counters.noticesSent += 1 }
    }
}
