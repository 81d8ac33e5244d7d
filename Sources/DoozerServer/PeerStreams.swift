import DoozerNode
import DoozerReactor
import DoozerSystem
import DoozerTLS
import DoozerWire
import Logging

/// One outgoing peer stream: a TCP connection from this node to a peer's client port.
final class PeerStream {
    let token: UInt64
    let address: SocketAddress
    var channel: StreamChannel
    /// The handshake is still going on; output waits for it.
    var connecting: Bool
    /// When the stream opened, connected, or last moved output into the kernel.
    var progressAt: Int64

    init(token: UInt64, address: SocketAddress, channel: consuming StreamChannel, connecting: Bool, now: Int64) {
        self.token = token
        self.address = address
        self.channel = channel
        self.connecting = connecting
        progressAt = now
    }
}

/// The node's outgoing peer streams: a TCP connection to a peer's client port, opened when the
/// first message too large for one datagram is sent there (`PeerTransport.streamLargeMessage`).
/// Each such message crosses as one `Verb.peer` request, so a 1 MB value travels as one
/// flow-controlled stream rather than as sixteen datagrams that a busy receiver's kernel drops
/// whenever its receive buffer (capped by net.core.rmem_max) is full. A stream opens with the
/// cluster's secret, if any, then a record of this node's header alone, after which the
/// receiver takes frames up to the transport's largest message.
///
/// A stream queues at most `maxQueuedBytes`; a message past that is dropped and counted (the
/// protocol sends again). A stream that fails — refused, reset, closed, answered with an
/// error, or stalled (connecting, or holding output it cannot send, for `stallTimeout`: a
/// dead or unreachable host) — is closed, and for `retryDelay` that peer gets its large
/// messages in fragments.
/// Owned by the server's `ClusterSequencer`; runs on the loop thread, never blocks, and reads
/// nothing from a stream but its answers (ACCESS, errors).
final class PeerStreams {
    /// Unsent bytes one stream holds at most.
    static let maxQueuedBytes = 32 << 20
    /// How long a peer whose stream failed gets fragments before a new stream is tried.
    static let retryDelay: Int64 = 1_000_000_000
    /// How long a stream may connect, or hold output without sending any, before it fails.
    static let stallTimeout: Int64 = 1_000_000_000

    /// Counters since start.
    struct Stats {
        var opened = 0
        var failed = 0
        /// Messages dropped because their stream held `maxQueuedBytes`.
        var dropped = 0
    }

    private(set) var stats = Stats()
    /// Unchecked: the server owns the sequencer that owns the streams, so it outlives them.
    private unowned(unsafe) let server: Server
    private var streams: [SocketAddress: PeerStream] = [:]
    /// When each peer whose stream failed may be tried again.
    private var retryAt: [SocketAddress: Int64] = [:]
    /// Where streams connect from: this node's `-l` host, so the receiver can tell it by address.
    private let local: SocketAddress
    /// The node's record header (`PeerTransport.recordHeader`).
    private let header: [UInt8]
    /// What each stream sends first: ACCESS with the secret (if one is set), then a record of
    /// the header alone.
    private let access: [UInt8]
    /// The trailer a record of `item` ends with (`PeerTransport.recordTrailer`: empty without
    /// a peer key, a fresh counter and MAC with one).
    private let trailer: ([UInt8]) -> [UInt8]

    init(server: Server, header: [UInt8], trailer: @escaping ([UInt8]) -> [UInt8]) {
        self.server = server
        self.header = header
        self.trailer = trailer
        local = server.boundAddress.withPort(0)
        access = server.configuration.readWriteSecret.isEmpty ? []
            : Framing.frame(Request(verb: .access, value: server.configuration.readWriteSecret).encoded())
    }

    /// A record of `header`, `item` and its trailer, framed as a `Verb.peer` request, onto `stream`.
    private func appendRecord(_ item: [UInt8], to stream: PeerStream) {
        let trailer = trailer(item)
        let head = Request.frameHead(verb: .peer, valueCount: header.count + item.count + trailer.count)
        head.withUnsafeBytes { stream.channel.output.append($0) }
        header.withUnsafeBytes { stream.channel.output.append($0) }
        if !item.isEmpty { stream.channel.appendShared(item) }
        trailer.withUnsafeBytes { stream.channel.output.append($0) }
    }

    /// Queues one record (this node's header, then `item`) on the stream to `address`, opening
    /// it if needed. False when there is no stream to that peer now (its last one failed less
    /// than `retryDelay` ago, or a socket could not be made): send the message another way.
    func send(_ item: [UInt8], to address: SocketAddress) -> Bool {
        guard let stream = streams[address] ?? open(address) else { return false }
        if (stream.connecting || stream.channel.hasPendingOutput) && server.loop.now - stream.progressAt > Self.stallTimeout {
            fail(stream, stream.connecting ? "not connected after a second" : "sent nothing for a second")
            return false
        }
        guard stream.channel.pendingOutputCount + header.count + item.count <= Self.maxQueuedBytes else {
            stats.dropped += 1
            return true
        }
        appendRecord(item, to: stream)
        if !stream.connecting { flush(stream) }
        return true
    }

    /// Closes the streams to peers no longer in the address table.
    func keep(only addresses: some Sequence<SocketAddress>) {
        let kept = Set(addresses)
        for (address, stream) in streams where !kept.contains(address) { close(stream) }
        retryAt = retryAt.filter { kept.contains($0.key) }
    }

    /// The stream's socket is ready: the handshake ended, answers arrived, or output drains.
    func ready(_ stream: PeerStream, events: IOEvents) {
        if stream.connecting {
            guard !events.isDisjoint(with: [.writable, .error, .hangup]) else { return }
            do {
                try Socket.connectOutcome(stream.channel.fd)
            } catch {
                return fail(stream, "\(error)")
            }
            stream.connecting = false
            stream.progressAt = server.loop.now
        } else if events.contains(.readable) {
            guard readAnswers(stream) else { return }
        } else if !events.isDisjoint(with: [.hangup, .error]) {
            return fail(stream, "the connection broke")
        }
        flush(stream)
    }

    private func open(_ address: SocketAddress) -> PeerStream? {
        if let at = retryAt[address] {
            guard server.loop.now >= at else { return nil }
            retryAt[address] = nil
        }
        let started: (fd: FileDescriptor, connected: Bool)
        do {
            started = try Socket.startConnect(to: address, from: local)
        } catch {
            failed(address, "\(error)")
            return nil
        }
        // When the client port speaks TLS, so do the streams to the peers' client ports.
        let tls: TLSSession?
        do {
            tls = try server.clientTLS.map { clientTLS throws(TLSError) in
                try TLSSession(context: clientTLS.outbound, fd: started.fd, host: address.host)
            }
        } catch {
            started.fd.close()
            failed(address, "\(error)")
            return nil
        }
        let stream = PeerStream(token: server.registry.nextToken, address: address,
                                channel: StreamChannel(fd: started.fd, inputCapacity: 1024, outputCapacity: 4096, tls: tls),
                                connecting: !started.connected, now: server.loop.now)
        stream.channel.interest = started.connected ? .readable : .writable
        do {
            try server.loop.register(started.fd, interest: stream.channel.interest, token: stream.token)
        } catch {
            started.fd.close()
            failed(address, "\(error)")
            return nil
        }
        server.registry.insert(.peerStream(stream))
        streams[address] = stream
        stats.opened += 1
        access.withUnsafeBytes { stream.channel.output.append($0) }
        appendRecord([], to: stream)
        return stream
    }

    /// Reads what the peer answered (ACCESS; an error means it refused a record); false when
    /// the stream failed and was closed.
    private func readAnswers(_ stream: PeerStream) -> Bool {
        while true {
            switch stream.channel.readOnce(minimumSpace: 1024) {
            case .bytes:
                while case .frame(let count) = Framing.scan(stream.channel.input.readable, maxFrame: 1 << 16) {
                    let payload = Array(stream.channel.input.readable[Framing.headerSize..<(Framing.headerSize + count)])
                    stream.channel.input.consume(Framing.headerSize + count)
                    if let answer = try? Response(decoding: payload), let code = answer.errCode {
                        let name = ErrorCode(rawValue: code).map { "\($0)" } ?? "error \(code)"
                        fail(stream, "the peer refused it (\(name)\(answer.errDetail.map { ": \($0)" } ?? ""))")
                        return false
                    }
                }
                if case .tooLarge = Framing.scan(stream.channel.input.readable, maxFrame: 1 << 16) {
                    fail(stream, "the peer answered with a frame too large for an answer")
                    return false
                }
            case .wouldBlock:
                return true
            case .endOfStream:
                fail(stream, "the peer closed it")
                return false
            case .failed(let error):
                fail(stream, "\(error)")
                return false
            }
        }
    }

    private func flush(_ stream: PeerStream) {
        let before = stream.channel.pendingOutputCount
        if case .failed(let error) = stream.channel.flush() { return fail(stream, "\(error)") }
        if stream.channel.pendingOutputCount < before { stream.progressAt = server.loop.now }
        stream.channel.output.shrinkIfSmall()
        do {
            try server.loop.updateInterest(of: &stream.channel, reading: true, token: stream.token)
        } catch {
            fail(stream, "\(error)")
        }
    }

    private func fail(_ stream: PeerStream, _ reason: String) {
        close(stream)
        failed(stream.address, reason)
    }

    /// No stream to `address` for `retryDelay`; said in the log (rate-limited: a peer that
    /// refuses every stream is retried each second).
    private func failed(_ address: SocketAddress, _ reason: String) {
        retryAt[address] = server.loop.now + Self.retryDelay
        stats.failed += 1
        server.notice(.peerStream, "peer stream to \(address): \(reason); its large messages go in fragments for a second")
    }

    private func close(_ stream: PeerStream) {
        guard streams[stream.address] === stream else { return }
        streams[stream.address] = nil
        _ = server.registry.remove(stream.token)
        server.loop.unregister(stream.channel.fd)
        stream.channel.fd.close()
    }
}

extension Server {
    /// A record on a peer's stream to this node (`Verb.peer`): the sequencer checks it and
    /// hands its message to consensus as a datagram's would. The first record from a peer of
    /// this cluster (its header alone) lets the connection carry frames up to the transport's
    /// largest message. False when the record failed the checks (dropped and counted; it
    /// grants nothing): the sender is told, so it sends that peer's large messages another way.
    func streamed(_ record: UnsafeRawBufferPointer, on session: Session) -> Bool {
        if session.remoteAddress == nil { session.remoteAddress = try? Socket.peerAddress(session.channel.fd) }
        guard let source = session.remoteAddress, cluster.receive(record: record, from: source) else { return false }
        session.maxFrame = max(session.maxFrame, cluster.transport.limits.maxMessageSize + Server.peerRecordOverhead)
        return true
    }

    /// Bytes of a `Verb.peer` request besides its record's message: frame fields, record
    /// header, item kind.
    static let peerRecordOverhead = 64
}
