import DoozerReactor
import DoozerStartup
import DoozerSystem
import DoozerTLS

/// TLS on the client port (`-tlscert`, `-tlskey`, `-tlsclientca`): the context new connections
/// get, the deadline a handshake has, reloading the pair on SIGHUP. Runs on the loop thread;
/// the handshake itself runs inside the channel's reads and writes, so nothing here blocks.
final class ClientTLS {
    /// The context new connections get; replaced by a reload, while open connections keep theirs.
    private(set) var context: TLSContext
    /// The context of this node's streams to its peers' client ports (they speak TLS too).
    private(set) var outbound: TLSContext
    let files: TLSFiles
    /// How long a new connection has to finish its handshake (`-tlstimeout`).
    let handshakeTimeout: Int64
    /// Connections whose handshake has not finished, with the time by which it must.
    private var handshakes: [(token: UInt64, deadline: Int64)] = []
    /// Sessions that stopped reading with decrypted input still inside their TLS session.
    var hiddenInput: [Session] = []

    init(files: TLSFiles, handshakeTimeout: Int64) throws(TLSError) {
        self.files = files
        self.handshakeTimeout = handshakeTimeout
        context = try ClientTLS.load(files)
        outbound = try files.outboundContext()
    }

    static func load(_ files: TLSFiles) throws(TLSError) -> TLSContext {
        try TLSContext.server(certificate: files.certificate, key: files.key,
                              clients: files.clientCA.map { .verifiedIfSent(caFile: $0) } ?? .ignored)
    }

    /// Loads the pair again; a pair that does not load leaves the current one in place.
    func reload() -> Result<Void, TLSError> {
        do {
            let loaded = try ClientTLS.load(files)
            outbound = try files.outboundContext()
            context = loaded
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// Starts the clock on a new connection's handshake; true when the sweep timer must be armed.
    func started(_ token: UInt64, now: Int64) -> Bool {
        handshakes.append((token, now &+ handshakeTimeout))
        return handshakes.count == 1
    }

    /// Forgets finished handshakes and returns the tokens of those past their deadline.
    func overdue(now: Int64, isPending: (UInt64) -> Bool) -> [UInt64] {
        var late: [UInt64] = []
        handshakes.removeAll { entry in
            guard isPending(entry.token) else { return true }
            if entry.deadline <= now { late.append(entry.token); return true }
            return false
        }
        return late
    }

    var hasPendingHandshakes: Bool { !handshakes.isEmpty }
}

extension Server {
    /// How often handshakes are checked against their deadline while any are pending.
    static let handshakeSweep: Int64 = 250_000_000

    /// A new connection's channel: through a TLS session when the port speaks TLS.
    func makeChannel(_ fd: FileDescriptor, token: UInt64) throws(TLSError) -> StreamChannel {
        guard let clientTLS else {
            return StreamChannel(fd: fd, inputCapacity: Server.inputCapacity, outputCapacity: Server.outputCapacity)
        }
        let session = try TLSSession(context: clientTLS.context, fd: fd)
        if clientTLS.started(token, now: loop.now) { schedule(.tlsHandshakes, after: Server.handshakeSweep) }
        return StreamChannel(fd: fd, inputCapacity: Server.inputCapacity, outputCapacity: Server.outputCapacity, tls: session)
    }

    /// After a read or a flush: a handshake that just finished grants what a verified client
    /// certificate stands for (read-write, as the read-write secret would).
    func noteHandshake(_ session: Session) {
        guard !session.handshakeDone, let tls = session.channel.tls, tls.isHandshakeDone else { return }
        session.handshakeDone = true
        if clientTLS?.files.clientCA != nil, let name = tls.verifiedPeerName {
            session.rights.add(Rights(read: true, write: true))
            logger.debug("connection \(session.token): \(tls.version), client certificate \(name)")
        }
    }

    /// Sweeps handshakes past their deadline (closing their connections) while any are pending.
    func tlsHandshakeTimer() {
        guard let clientTLS else { return }
        let late = clientTLS.overdue(now: loop.now) { token in
            if case .client(let session) = registry[token] { return !session.handshakeDone }
            return false
        }
        for token in late {
            guard case .client(let session) = registry[token] else { continue }
            notice(.tls, "connection \(token): TLS handshake not finished within -tlstimeout; closing it")
            close(session)
        }
        if clientTLS.hasPendingHandshakes { schedule(.tlsHandshakes, after: Server.handshakeSweep) }
    }

    /// SIGHUP: the certificate and key again, for new connections; open ones keep theirs.
    func reloadTLS() {
        guard let clientTLS else { return }
        switch clientTLS.reload() {
        case .success: logger.info("TLS: reloaded \(clientTLS.files.certificate) and \(clientTLS.files.key) for new connections")
        case .failure(let error): logger.error("TLS: reload failed, keeping the previous pair: \(error)")
        }
    }

    /// Remembers a session that has decrypted input it will not be woken for.
    func noteHiddenInput(_ session: Session) {
        guard session.isOpen, session.channel.hasHiddenInput, let clientTLS else { return }
        clientTLS.hiddenInput.append(session)
        loop.wakeImmediately()
    }

    /// Reads, once each, the sessions noted by `noteHiddenInput`.
    func readHiddenInput() {
        guard let clientTLS, !clientTLS.hiddenInput.isEmpty else { return }
        let waiting = clientTLS.hiddenInput
        clientTLS.hiddenInput.removeAll(keepingCapacity: true)
        for session in waiting where session.isOpen && session.channel.hasHiddenInput { readable(session) }
    }
}
