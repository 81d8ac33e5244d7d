import DoozerSystem

/// One non-blocking UDP socket with batched receives and a coalescing outbox — or, made with
/// `init(simulated:)`, the same outbox handing each datagram to a function (a simulated
/// network) instead of the kernel.
///
/// Owns `fd` (closed when the channel goes away) and memory allocated once in `init`:
/// `receiveSlots` receive buffers and `sendSlots` send buffers of `maxDatagram` bytes each,
/// with their addresses and kernel message headers, and a table of `maxOpenDatagrams`
/// datagrams open for appending. It never blocks, never allocates after `init` and never
/// retries: UDP is lossy, every drop is counted in `stats`, and the protocol above retransmits.
/// It knows nothing of epoll: the owner registers `fd` with its `EventLoop`, calls `receive`
/// when it is readable and `flush` once per iteration. Not thread-safe.
///
/// A datagram it sends is the caller's header followed by messages, each framed as a 4-byte
/// big-endian length and that many bytes, then — when the owner asked for it with
/// `sealDatagrams` — a trailer the owner writes over the finished datagram just before it
/// leaves; `forEachMessage` reads the messages back.
public final class DatagramChannel {
    /// The largest UDP payload over IPv4: 65 535 bytes less the IP and UDP headers.
    public static let maxUDPPayload = 65_507

    /// The socket (-1 for a simulated channel, which has none).
    public let fd: FileDescriptor
    /// Where a simulated channel's datagrams go, in `flush`.
    private let simulatedSend: ((SocketAddress, UnsafeRawBufferPointer) -> Void)?
    /// Bytes in the largest datagram sent or received whole; longer ones arrive truncated and
    /// are dropped.
    public let maxDatagram: Int
    public private(set) var stats = Stats()

    private let inbox: DatagramSlab
    private let outbox: DatagramSlab
    /// Outbox slots `0..<built` hold datagrams for the next `flush`.
    private var built = 0
    /// Outbox slots still taking messages, at most one per destination, in entries
    /// `0..<openCount`.
    private let openDatagrams: UnsafeMutableBufferPointer<Int>
    private var openCount = 0
    /// The entry of `openDatagrams` to give up next when a new destination finds the table full.
    private var nextEviction = 0
    /// Bytes every datagram ends with, written by `seal` in `flush`; 0: none.
    public private(set) var trailerSize = 0
    private var seal: ((UnsafeMutableRawBufferPointer) -> Void)?

    /// Takes ownership of `fd`, a non-blocking UDP socket (see `Socket.bindUDP`).
    /// - Parameters:
    ///   - receiveSlots: datagrams one recvmmsg takes, at most 1024.
    ///   - sendSlots: datagrams the outbox holds between flushes, at most 1024.
    ///   - maxDatagram: bytes per datagram, at most `maxUDPPayload`.
    ///   - maxOpenDatagrams: destinations appended to at once; beyond that the oldest open
    ///     datagram is closed (still sent, no longer appended to), which costs only coalescing.
    public init(fd: FileDescriptor, receiveSlots: Int = 64, sendSlots: Int = 64,
                maxDatagram: Int = DatagramChannel.maxUDPPayload, maxOpenDatagrams: Int = 16) {
        precondition(maxDatagram >= 4 && maxDatagram <= Self.maxUDPPayload)
        precondition(maxOpenDatagrams > 0)
        self.fd = fd
        simulatedSend = nil
        self.maxDatagram = maxDatagram
        inbox = DatagramSlab(count: receiveSlots, capacity: maxDatagram)
        outbox = DatagramSlab(count: sendSlots, capacity: maxDatagram)
        openDatagrams = .allocate(capacity: maxOpenDatagrams)
        openDatagrams.initialize(repeating: 0)
    }

    /// A channel without a socket: `flush` hands each datagram built, with its destination,
    /// to `send` (the bytes are valid only during that call), and `receive` finds nothing. The
    /// owner delivers received datagrams itself (`PeerTransport.receive(datagram:from:_:)`).
    package init(simulated send: @escaping (SocketAddress, UnsafeRawBufferPointer) -> Void, sendSlots: Int = 64,
                maxDatagram: Int = DatagramChannel.maxUDPPayload, maxOpenDatagrams: Int = 16) {
        precondition(maxDatagram >= 4 && maxDatagram <= Self.maxUDPPayload)
        fd = FileDescriptor(rawValue: -1)
        simulatedSend = send
        self.maxDatagram = maxDatagram
        inbox = DatagramSlab(count: 1, capacity: 4)
        outbox = DatagramSlab(count: sendSlots, capacity: maxDatagram)
        openDatagrams = .allocate(capacity: maxOpenDatagrams)
        openDatagrams.initialize(repeating: 0)
    }

    deinit {
        openDatagrams.deallocate()
        if simulatedSend == nil { fd.close() }
    }

    /// Counters since the channel was made. Drops count datagrams, except `droppedOutboxFull`,
    /// which counts messages.
    public struct Stats: Equatable, Sendable {
        public var datagramsReceived = 0
        public var bytesReceived = 0
        public var datagramsSent = 0
        public var bytesSent = 0
        public var messagesQueued = 0
        /// recvmmsg and sendmmsg calls made.
        public var receiveCalls = 0
        public var sendCalls = 0
        /// Datagrams longer than `maxDatagram`, cut short by the kernel.
        public var droppedTruncated = 0
        /// Datagrams whose framing `messages(in:headerSize:_:)` rejected.
        public var droppedMalformed = 0
        /// Messages refused with `.full`.
        public var droppedOutboxFull = 0
        /// Datagrams not sent because the kernel's send buffer was full (EAGAIN, ENOBUFS).
        public var droppedBackpressure = 0
        /// Datagrams the kernel refused (unreachable, refused, not permitted, …).
        public var droppedSendErrors = 0
    }

    /// From now on every datagram keeps `trailerSize` bytes free at its end, and `flush` hands
    /// each finished one (the trailer's bytes last) to `seal`, which writes them. Call before
    /// anything is appended.
    public func sealDatagrams(trailerSize: Int, _ seal: @escaping (UnsafeMutableRawBufferPointer) -> Void) {
        precondition(built == 0 && trailerSize >= 0 && trailerSize < maxDatagram)
        self.trailerSize = trailerSize
        self.seal = seal
    }

    // ---- receiving ---------------------------------------------------------------------------

    /// Takes up to `budget` datagrams from the socket, one recvmmsg per `receiveSlots` of them,
    /// and hands each to `body` in place, in arrival order. The bytes are valid only during
    /// that call of `body`, which must not call `receive` (it may `append` and `flush`).
    /// Truncated datagrams are dropped and counted.
    ///
    /// Stops early once the socket is drained: at EAGAIN, or when a call brings fewer
    /// datagrams than asked for (the queue ran dry during it; level-triggered epoll reports
    /// anything later). Returns how many datagrams it took, handed over or dropped: fewer than
    /// `budget` means the socket was drained.
    @discardableResult
    public func receive(budget: Int, _ body: (_ from: SocketAddress, _ datagram: UnsafeRawBufferPointer) -> Void) throws(SystemError) -> Int {
        guard simulatedSend == nil else { return 0 }
        var taken = 0
        while taken < budget {
            let asked = min(inbox.count, budget - taken)
            stats.receiveCalls += 1
            guard case .done(let arrived) = try inbox.receive(from: fd, slots: asked) else { break }
            for slot in 0..<arrived {
                if inbox.isTruncated(slot) {
                    stats.droppedTruncated += 1
                    continue
                }
                let datagram = inbox.received(slot)
                stats.datagramsReceived += 1
                stats.bytesReceived += datagram.count
                body(inbox.address(slot), datagram)
            }
            taken += arrived
            if arrived < asked { break }
        }
        return taken
    }

    /// Hands each message framed in `datagram` after its `headerSize`-byte header to `body`,
    /// as `forEachMessage` does, counting a malformed datagram in `stats.droppedMalformed`.
    @discardableResult
    public func messages(in datagram: UnsafeRawBufferPointer, headerSize: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        let wellFormed = Self.forEachMessage(in: datagram, headerSize: headerSize, body)
        if !wellFormed { stats.droppedMalformed += 1 }
        return wellFormed
    }

    /// Hands each message framed in `datagram` after its `headerSize`-byte header to `body`,
    /// in order, as a slice of `datagram`. The framing is checked whole first: a datagram
    /// shorter than its header, or whose lengths do not end exactly at its end, yields no
    /// message and returns false. Any input is safe to pass.
    public static func forEachMessage(in datagram: UnsafeRawBufferPointer, headerSize: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard headerSize >= 0, datagram.count >= headerSize else { return false }
        var offset = headerSize
        while offset < datagram.count {
            guard let length = messageLength(in: datagram, at: offset) else { return false }
            offset += 4 + length
        }
        offset = headerSize
        while offset < datagram.count {
            let length = messageLength(in: datagram, at: offset)!   // checked above
            body(UnsafeRawBufferPointer(rebasing: datagram[offset + 4 ..< offset + 4 + length]))
            offset += 4 + length
        }
        return true
    }

    /// The length of the message framed at `offset`, or nil when its prefix or its bytes run
    /// past the end of `datagram`.
    private static func messageLength(in datagram: UnsafeRawBufferPointer, at offset: Int) -> Int? {
        let rest = datagram.count - offset
        guard rest >= 4 else { return nil }
        let length = Int(UInt32(bigEndian: datagram.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        return length <= rest - 4 ? length : nil
    }

    // ---- sending -----------------------------------------------------------------------------

    public enum AppendResult: Equatable, Sendable {
        case queued
        /// Header, length prefix and message together exceed `maxDatagram`: it can never be sent.
        case tooLarge
        /// Every send slot is taken until the next `flush`: the message is dropped and counted.
        case full
    }

    /// Datagrams built and waiting for `flush`.
    public var pendingDatagrams: Int { built }

    /// Queues `message`, framed, in the datagram open for `destination`. A datagram with no
    /// room for it is closed and a new one started, beginning with `header` (e.g. the cluster's
    /// identity); pass the same header for one destination until the next `flush`. The bytes
    /// are copied: the caller's buffers are free again on return.
    public func append(_ message: UnsafeRawBufferPointer, to destination: SocketAddress, header: UnsafeRawBufferPointer) -> AppendResult {
        let framed = 4 + message.count
        let room = maxDatagram - trailerSize
        guard header.count + framed <= room else { return .tooLarge }
        let entry = openEntry(for: destination)
        let slot: Int
        if let entry, outbox.length(openDatagrams[entry]) + framed <= room {
            slot = openDatagrams[entry]
        } else {
            guard built < outbox.count else {
                stats.droppedOutboxFull += 1
                return .full
            }
            slot = built
            built += 1
            outbox.prepare(slot, to: destination)
            write(header, into: slot)
            openDatagrams[entry ?? claimEntry()] = slot
        }
        var prefix = UInt32(message.count).bigEndian
        withUnsafeBytes(of: &prefix) { write($0, into: slot) }
        write(message, into: slot)
        stats.messagesQueued += 1
        return .queued
    }

    public struct FlushResult: Equatable, Sendable {
        /// Datagrams the kernel took.
        public var sent: Int
        /// Datagrams dropped: the kernel's buffer was full, or it refused them.
        public var dropped: Int

        public init(sent: Int = 0, dropped: Int = 0) {
            self.sent = sent
            self.dropped = dropped
        }
    }

    /// Sends every built datagram, normally with one sendmmsg, and empties the outbox.
    /// When the kernel's send buffer is full (EAGAIN, ENOBUFS) the rest is dropped; a datagram
    /// the kernel refuses (unreachable, refused, …) is skipped; both are counted. Throws only
    /// when the descriptor itself is unusable (`Errno.isMisuse`), after emptying the outbox.
    @discardableResult
    public func flush() throws(SystemError) -> FlushResult {
        defer {
            built = 0
            openCount = 0
            nextEviction = 0
        }
        var result = FlushResult()
        if let seal {
            for slot in 0..<built {
                let length = outbox.length(slot) + trailerSize
                outbox.setLength(length, of: slot)
                seal(UnsafeMutableRawBufferPointer(rebasing: outbox.buffer(slot)[..<length]))
            }
        }
        if let simulatedSend {
            for slot in 0..<built {
                let datagram = UnsafeRawBufferPointer(rebasing: outbox.buffer(slot)[..<outbox.length(slot)])
                simulatedSend(outbox.address(slot), datagram)
                stats.bytesSent += datagram.count
            }
            stats.datagramsSent += built
            result.sent = built
            return result
        }
        var next = 0
        sending: while next < built {
            stats.sendCalls += 1
            do throws(SystemError) {
                guard case .done(let count) = try outbox.send(on: fd, slots: next..<built), count > 0 else { break sending }
                for slot in next..<next + count { stats.bytesSent += outbox.sent(slot) }
                stats.datagramsSent += count
                result.sent += count
                next += count
            } catch {
                if error.errno.isMisuse { throw error }
                if error.errno.isResourceExhaustion { break sending }
                stats.droppedSendErrors += 1
                result.dropped += 1
                next += 1
            }
        }
        // What is left met a full send buffer.
        stats.droppedBackpressure += built - next
        result.dropped += built - next
        return result
    }

    private func write(_ bytes: UnsafeRawBufferPointer, into slot: Int) {
        let length = outbox.length(slot)
        if let source = bytes.baseAddress, bytes.count > 0 {
            outbox.buffer(slot).baseAddress!.advanced(by: length).copyMemory(from: source, byteCount: bytes.count)
        }
        outbox.setLength(length + bytes.count, of: slot)
    }

    private func openEntry(for destination: SocketAddress) -> Int? {
        for entry in 0..<openCount where outbox.address(openDatagrams[entry]) == destination { return entry }
        return nil
    }

    /// A free entry of `openDatagrams`, or the oldest one's when all are taken (round robin).
    private func claimEntry() -> Int {
        if openCount < openDatagrams.count {
            openCount += 1
            return openCount - 1
        }
        defer { nextEviction = (nextEviction + 1) % openDatagrams.count }
        return nextEviction
    }
}
