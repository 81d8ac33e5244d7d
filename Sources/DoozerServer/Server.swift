import DoozerConsensus
import DoozerDurability
import DoozerLog
import DoozerNode
import DoozerPeer
import DoozerReactor
import DoozerStartup
import DoozerStore
import DoozerSystem
import DoozerTLS
import DoozerWire
import Logging

/// A doozerd node: the client listener, every client session, the store, the writes it has
/// proposed (`Proposals.swift`), its place in the cluster (`ClusterSequencer`: consensus and
/// the peer socket), the timers that keep the store moving, and the web view (`WebListener`,
/// served by `ServerWeb.swift`). Runs on one thread inside its `EventLoop`; once `run` starts
/// serving, nothing in it blocks, locks or is touched from another thread.
public final class Server {
    public let configuration: Configuration
    public let id: NodeID
    let logger: Logger
    let loop: EventLoop
    package private(set) var store: Store
    /// Consensus and the peer socket; every node has one (a seed is a cluster of one).
    private(set) var cluster: ClusterSequencer!
    /// Whether this node attached to a running cluster (`-a`, `-b`) rather than seeding one.
    private let joined: Bool
    /// The DzNS this node booted through (`-b`), where members are named (§5.7).
    let bootURI: String?
    /// The client port's listening socket; owned so a failing `init` closes it too.
    private let listenerOwner: OwnedDescriptor
    private var listener: FileDescriptor { listenerOwner.fd }
    private let signals: TerminationSignals
    /// The listener's bound address: the node's identity, recorded in `/ctl/node/<id>/addr`.
    public let boundAddress: SocketAddress

    /// What every epoll token names; `ready` dispatches through it.
    var registry = Registry()
    private let listenerToken: UInt64
    /// Open client connections.
    private(set) var clientCount = 0
    private var dirty: [Session] = []
    /// Connections whose budget ran out with whole frames left in their input.
    private var backlog: [Session] = []
    /// One log line per kind of trouble per 10 s, however many connections cause it.
    private var notices = LogThrottle<Notice>(interval: 10_000_000_000)
    /// Orders this node's writes: the cluster (tests may put another in its place while no
    /// write is pending).
    lazy var sequencer: any Sequencer = cluster
    /// This node's proposed writes not yet applied or failed, with whom to answer.
    var pendingWrites = PendingWrites()
    /// Whether this node accepts writes: a member that finished start-up (§2.9), asked per
    /// request (B10). The cluster keeps it current as membership changes.
    var isWritable = false
    /// Reads of revisions not applied yet, by the revision they wait for.
    var parkedReads: [Int64: [ParkedRead]] = [:]
    /// The web view (`-w`), nil when turned off.
    var web: WebListener?
    /// WAITs whose scan of history goes on (`Store`) were left at the end of the last loop
    /// turn: the next turn's `iterationDone` continues them, after that turn's other work.
    var historyScansLeft = false
    /// The durable log (`-data`), nil for a memory-only node. Decided batches apply only once
    /// they are durable at a quorum (`ClusterSequencer`, `Outbox`).
    let nodeLog: NodeLog?
    /// TLS on the client port (`-tlscert`), nil for plain TCP.
    let clientTLS: ClientTLS?
    /// The log's storage failure that stopped the node; `run` throws it after the loop.
    var storageFailure: StorageStopped?
    /// Streams to peers for the messages too large for one datagram.
    private(set) var streams: PeerStreams!
    /// The copy of a peer's state in flight on a background thread (`copyState`).
    var stateCopy: StateCopy?
    /// Client requests handled since start, for the web view's requests/s.
    var requestCount: UInt64 = 0

    /// Payload bytes of undecided batches the leader keeps in flight in all: two batches of
    /// about 1 MB (the largest batch), so a large value's round trip overlaps the next one's,
    /// while the copies consensus sends again after a heartbeat stay few on a busy stream.
    static let maxInflightBytes = 2 << 20

    /// Per-connection buffer sizes; see `IOBuffer`.
    static let inputCapacity = 4096
    static let outputCapacity = 4096
    /// Bytes read from one connection per wake-up before the loop moves on.
    static let readBudget = 256 * 1024
    /// Work units (`cost(of:)`) one connection's requests may take per wake-up; the rest of
    /// its pipeline waits until every other ready connection had its turn.
    static let requestBudget = 64
    /// Connections accepted per wake-up of the listener, so a flood of new connections
    /// cannot starve the open ones.
    static let acceptBudget = 64
    /// Unsent answers a connection may hold (input is held back past `Session.highWater`,
    /// but answers to WAITs and parked reads keep coming); a client past it is disconnected.
    let outputLimit: Int
    /// The error detail of a WAIT or future read refused by `-maxwaits`.
    let waitLimitDetail: [UInt8]
    /// The rights of a connection that has presented no secret (§2.8).
    private let anonymousRights: Rights

    /// What `notice` rate-limits, one kind per cause.
    enum Notice: Hashable {
        case frameTooLarge, undecodable, unreadAnswers, connectionLimit, waitLimit, peerStream, outcomeUnknown, tls
    }

    /// Logs `message` unless a line of the same kind went out less than 10 s ago; the next
    /// line that goes out says how many were held back.
    func notice(_ kind: Notice, _ message: @autoclosure () -> String) {
        guard let held = notices.admit(kind, now: loop.now) else { return }
        logger.notice("\(message())\(held > 0 ? " (\(held) more like it held back)" : "")")
    }

    /// The loop's timers: the server's own, and the sequencer's (`NodeTimer`).
    enum Timer: UInt64 {
        case pulse = 1
        case resumeAccepting = 2
        case webTick = 3
        case resumeWebAccepting = 4
        case consensus = 5
        case liveness = 6
        case stateCopy = 7
        case peerBacklog = 8
        case lazyCommit = 9
        case tlsHandshakes = 10

        init(_ timer: NodeTimer) {
            switch timer {
            case .consensus: self = .consensus
            case .liveness: self = .liveness
            case .peerBacklog: self = .peerBacklog
            case .lazyCommit: self = .lazyCommit
            case .pulse: self = .pulse
            }
        }

        /// The sequencer's timer this is, if it is one.
        var nodeTimer: NodeTimer? {
            switch self {
            case .consensus: .consensus
            case .liveness: .liveness
            case .peerBacklog: .peerBacklog
            case .lazyCommit: .lazyCommit
            case .pulse: .pulse
            case .resumeAccepting, .webTick, .resumeWebAccepting, .stateCopy, .tlsHandshakes: nil
            }
        }
    }

    /// Binds the client and peer ports and prepares the store: empty for a seed, or the tree
    /// of the `-restore` file (read first, before anything is bound); for a node started with
    /// `-a`, a copy of a member's, fetched here (blocking, bounded). Nothing is served until
    /// `run()`.
    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        outputLimit = Session.highWater + 4 * configuration.maxFrame
        waitLimitDetail = Array("too many WAITs and future reads pending on this connection (-maxwaits \(configuration.maxWaits))".utf8)
        anonymousRights = Rights.granted(by: Server.noBytes, readWrite: configuration.readWriteSecret,
                                         readOnly: configuration.readOnlySecret) ?? Rights()
        let restored = try configuration.restorePath.map { path throws(RestoreError) in
            try Server.restoredTree(path, logger: logger)
        }
        let now = ProcessEnvironment.monotonicNanoseconds()
        let seed = try ProcessEnvironment.randomBytes(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        var options = ConsensusOptions()
        options.durable = configuration.dataPath != nil
        var resumed: Consensus?
        if let dataPath = configuration.dataPath {
            let restorer = NodeRestorer(options: options, now: now, seed: seed)
            nodeLog = try NodeLog(path: dataPath, history: configuration.history, historyBytes: configuration.historyBytes,
                                  schedule: NodeLog.Schedule(records: configuration.snapshotRecords,
                                                             bytes: configuration.snapshotBytes),
                                  logger: logger) { restorer.replay($0) }
            resumed = nodeLog?.recovered.hasLayout == true ? restorer.finish(nodeLog!.recovered.durable) : nil
        } else {
            nodeLog = nil
        }
        if let nodeLog, let identity = nodeLog.recovered.identity {
            guard restored == nil else {
                throw NodeLogError.notEmpty(path: nodeLog.directory.path, id: identity.id, clusterName: identity.clusterName)
            }
            guard identity.clusterName == configuration.clusterName else {
                throw NodeLogError.otherCluster(path: nodeLog.directory.path, recorded: identity.clusterName,
                                                requested: configuration.clusterName)
            }
            id = identity.id
        } else {
            id = try NodeID.random()
            try nodeLog?.recordIdentity(NodeLog.Identity(id: id, clusterName: configuration.clusterName))
            if let nodeLog, let restored { try nodeLog.recordRestoredTree(restored) }
        }
        if let nodeLog {
            if let torn = nodeLog.tornTail { logger.notice("\(torn)") }
            let recovered = nodeLog.recovered
            let base = recovered.base.map { "snapshot \($0.file) at rev \($0.rev), then " } ?? ""
            logger.info(restored == nil
                ? "data directory \(nodeLog.directory.path): \(base)\(recovered.replayed) of \(recovered.records) log records replayed, rev \(recovered.store.rev)"
                : "data directory \(nodeLog.directory.path): new; the restored tree is its first snapshot")
        }
        clientTLS = try configuration.tls.map { files throws(TLSError) in try ClientTLS(files: files, handshakeTimeout: configuration.tlsHandshakeTimeout) }
        signals = try TerminationSignals(reportingHangups: configuration.tls != nil || configuration.peerKeyPath != nil)
        loop = try EventLoop()
        do {
            listenerOwner = OwnedDescriptor(try Socket.listenTCP(configuration.listenAddress))
        } catch {
            throw SystemError("client port (-l \(configuration.listenAddress)): \(error.call)", error.errno)
        }
        boundAddress = try Socket.localAddress(listenerOwner.fd)
        let me = PeerID(nodeID: id.bytes)
        var consensus: Consensus
        bootURI = configuration.bootURI
        if resumed != nil && (!configuration.attachAddresses.isEmpty || configuration.bootURI != nil) {
            logger.info("the data directory holds this node's cluster: it rejoins it, whatever -a or -b say")
        }
        let signals = self.signals
        if resumed == nil, let cluster = try Attach.locate(configuration: configuration, id: id, boundAddress: boundAddress,
                                                           logger: logger, pause: { delay throws(StartupInterrupted) in
            if let signal = signals.awaitTermination(within: delay) { throw StartupInterrupted(signal: signal) }
        }) {
            store = Store(history: configuration.history, historyBytes: configuration.historyBytes,
                          restoring: cluster.snapshot)
            var follower = Consensus(me: me, options: options, bootstrap: cluster.bootstrap, now: now, seed: seed)
            follower.upstream = PeerID(nodeID: cluster.memberID)
            // A durable joiner keeps the state it copied as its first snapshot.
            try nodeLog?.recordJoinedState(cluster.snapshot, cluster.bootstrap, durable: follower.durableState)
            consensus = follower
            joined = true
            logger.info("attached to \(cluster.memberAddress) at rev \(store.rev) as a slave")
        } else {
            store = restored.map { Store(history: configuration.history, historyBytes: configuration.historyBytes, restoring: $0) }
                ?? nodeLog?.recovered.store
                ?? Store(history: configuration.history, historyBytes: configuration.historyBytes)
            // A restarted durable node continues from what its data directory holds.
            consensus = resumed ?? Consensus(me: me, options: options, bootstrap: .seed(me), now: now, seed: seed)
            joined = false
        }
        let keys = try configuration.peerKeyPath.map { path throws in try Server.loadPeerKeys(path) }
        let transport: PeerTransport
        do {
            transport = try PeerTransport.open(address: boundAddress, cluster: configuration.clusterName, id: me, keys: keys)
        } catch {
            throw SystemError("peer port (UDP, -l \(boundAddress)): \(error.call)", error.errno)
        }
        // Flow control: the accepts in flight in datagrams must fit a follower's receive buffer
        // (taken to be the size of this node's) with room for forwards and fetch replies beside
        // them. Larger batches go on streams: see `maxInflightBytes`.
        consensus.limitInflight(to: Server.maxInflightBytes,
                                datagramBytes: max(64 << 10, transport.receiveBuffer / 8),
                                streamedFrom: transport.largestDatagramMessage)
        if transport.receiveBuffer < 2 * transport.limits.socketBuffer {
            logger.notice("peer socket: the kernel granted a \(transport.receiveBuffer >> 10) KiB receive buffer, not the \(2 * transport.limits.socketBuffer >> 10) KiB asked for (net.core.rmem_max caps it): bursts of small writes beyond it are dropped and sent again; to raise it on every node: sysctl -w net.core.rmem_max=\(transport.limits.socketBuffer)")
        }
        listenerToken = registry.insert(.clientListener)
        try loop.register(listener, interest: .readable, token: listenerToken)
        try loop.register(signals.fd, interest: .readable, token: registry.insert(.signals))
        if let webAddress = configuration.webAddress {
            let web = try WebListener(address: webAddress, token: registry.nextToken)
            self.web = web
            registry.insert(.webListener)
            try loop.register(web.fd, interest: .readable, token: web.token)
        }
        try loop.register(transport.fd, interest: .readable, token: registry.insert(.peers))
        if let nodeLog {
            try loop.register(nodeLog.completionFD, interest: .readable, token: registry.insert(.log))
            try loop.register(nodeLog.snapshotCompletionFD, interest: .readable, token: registry.insert(.snapshots))
        }
        let settings = NodeSettings(id: id.bytes, clusterName: configuration.clusterName, maxWrite: configuration.maxWrite,
                                    memberTimeout: configuration.memberTimeout, pulseInterval: configuration.pulseInterval)
        streams = PeerStreams(server: self, header: transport.recordHeader,
                              trailer: { [unowned transport] item in transport.recordTrailer(for: item) })
        transport.streamLargeMessage = { [streams] address, item in streams!.send(item, to: address) }
        cluster = ClusterSequencer(host: self, settings: settings, consensus: consensus, transport: transport,
                                   nodeLog: nodeLog, logger: logger)
    }

    /// An empty byte buffer, for absent values that must still be sent.
    static var noBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    deinit {
        for handler in registry.handlers {
            switch handler {
            case .client(let session): session.channel.fd.close()
            case .web(let session): session.channel.fd.close()
            case .peerStream(let stream): stream.channel.fd.close()
            case .clientListener, .signals, .webListener, .peers, .log, .snapshots: break
            }
        }
        // The peer socket is the transport's channel's to close, the listener and the signal
        // descriptor their owners' (closing them here too closed them twice: in release builds
        // another test's new descriptor with the same number).
        web?.fd.close()
    }

    /// Lays out a new cluster with this node as its seed (or, attached, follows the cluster
    /// as a slave), then serves clients until SIGINT or SIGTERM.
    public func run() throws {
        if joined {
            cluster.startJoined()
        } else if let nodeLog, nodeLog.recovered.hasLayout {
            resume()
        } else {
            seedNewCluster()
        }
        if let storageFailure { throw storageFailure }
        logger.info("doozerd \(Configuration.version) serving cluster \(configuration.clusterName) as \(id) on \(boundAddress) (rev \(store.rev), \(isWritable ? "member" : "slave"))")
        if nodeLog == nil {   // said once it serves, so a failed start-up stays one line
            logger.info("no -data: this node keeps everything in memory; nothing survives a restart")
        }
        if let web {
            logger.info("web view on http://\(web.boundAddress)/")
            web.lastRev = store.rev
            schedule(.webTick, after: 1_000_000_000)
        }
        if configuration.readWriteSecret.isEmpty && !configuration.readOnlySecret.isEmpty {
            logger.warning("only DOOZER_ROSECRET is set: anonymous clients can still write (original doozer behaviour)")
        }
        try loop.run(self)
        if let storageFailure { throw storageFailure }
        if let nodeLog {
            try nodeLog.flush()   // decided batches not yet synced: kept, though never acknowledged
            logger.info("\(nodeLog.trafficSummary)")
        }
        if let bootURI, isWritable {
            // B14: a member leaving cleanly takes its name out of the DzNS.
            do {
                try Boot.unregister(uri: bootURI, configuration: configuration, id: id, ownsBootRecord: !joined)
            } catch {
                logger.notice("could not remove this node from the DzNS: \(error)")
            }
        }
        logger.info("\(cluster.trafficSummary) streams_opened=\(streams.stats.opened) streams_failed=\(streams.stats.failed) streamed_dropped=\(streams.stats.dropped)")
        logger.info("shut down at rev \(store.rev)")
    }

    // MARK: Connections

    /// The next pending connection on `listener`, or nil when there is none. Out of
    /// descriptors or memory, it stops watching the listener and schedules `resume` in 100 ms
    /// instead of spinning; other accept errors (a client that gave up) are skipped.
    func acceptNext(_ listener: FileDescriptor, token: UInt64, resume: Timer, what: String) -> FileDescriptor? {
        while true {
            do {
                switch try Socket.accept(listener) {
                case .wouldBlock: return nil
                case .done(let accepted): return accepted
                }
            } catch where error.errno.isResourceExhaustion {
                logger.error("\(what): \(error); pausing accepts for 100 ms")
                try? loop.update(listener, interest: [], token: token)
                schedule(resume, after: 100_000_000)
                return nil
            } catch {
                logger.debug("\(what): \(error)")
            }
        }
    }

    /// Accepts up to `acceptBudget` connections (level-triggered epoll reports the rest
    /// next time). Past `-maxconns` open connections a new one is closed at once.
    private func acceptAll() {
        for _ in 0..<Server.acceptBudget {
            guard let fd = acceptNext(listener, token: listenerToken, resume: .resumeAccepting,
                                      what: "client port") else { return }
            guard clientCount < configuration.maxConnections else {
                fd.close()
                notice(.connectionLimit, "client port: \(clientCount) connections open (-maxconns); closed a new one")
                continue
            }
            openSession(fd)
        }
    }

    /// Serves a connected socket as a client session with anonymous rights; nil (and the
    /// descriptor closed) when epoll refuses it.
    @discardableResult
    func openSession(_ fd: FileDescriptor) -> Session? {
        let token = registry.nextToken
        let channel: StreamChannel
        do {
            channel = try makeChannel(fd, token: token)
        } catch {
            logger.error("\(error); dropping new connection")
            fd.close()
            return nil
        }
        let session = Session(token: token, channel: channel, rights: anonymousRights, outputLimit: outputLimit,
                              maxFrame: configuration.maxFrame)
        do {
            try loop.register(fd, interest: .readable, token: token)
        } catch {
            logger.error("\(error); dropping new connection")
            fd.close()
            return nil
        }
        registry.insert(.client(session))
        clientCount += 1
        return session
    }

    /// Forgets a connection and everything it was waiting for (B13): its WAITs, parked reads
    /// and pending writes (which still apply, answering nobody), after one last non-blocking
    /// attempt to send the answers it already has.
    func close(_ session: Session) {
        guard registry.remove(session.token) else { return }
        clientCount -= 1
        session.isOpen = false
        _ = session.channel.flush()
        session.channel.tls?.shutdown()
        loop.unregister(session.channel.fd)
        session.channel.fd.close()
        for watch in session.waits { store.cancelWait(watch) }   // fired ones are ignored
        for rev in Set(session.parkedRevisions) {
            parkedReads[rev]?.removeAll { $0.session == session.token }
            if parkedReads[rev]?.isEmpty == true { parkedReads[rev] = nil }
        }
        if session.pendingWrites > 0 { pendingWrites.forget(session: session.token) }
    }

    /// SIGUSR1: the log level raised, or set back; said at a level that shows either way.
    private func toggleLogLevel() {
        let levels = LiveLogLevel.shared
        if levels.isRaised {
            logger.notice("log level back to \(levels.configuredLevel) (SIGUSR1)")
            levels.toggle()
        } else {
            levels.toggle()
            logger.notice("log level \(levels.level) until the next SIGUSR1 (then \(levels.configuredLevel) again)")
        }
    }

    /// Reads and handles what the client sent, a bounded amount per wake-up so one busy
    /// connection cannot starve the others.
    func readable(_ session: Session) {
        guard !session.isBacklogged else { return }   // served from `backlog` first
        defer {
            if clientTLS != nil && !session.isThrottled && !session.isBacklogged { noteHiddenInput(session) }
        }
        session.requestBudget = Server.requestBudget
        var budget = Server.readBudget
        while budget > 0 && !session.isThrottled {
            let minimumSpace = max(1024, bytesStillNeeded(session))
            switch session.channel.readOnce(minimumSpace: minimumSpace) {
            case .bytes(let count, let filled):
                budget -= count
                // The read that finished a handshake may carry the first request too: what a
                // client certificate grants must be in place before it is handled.
                if clientTLS != nil { noteHandshake(session) }
                handleInput(session)
                if !session.isOpen || session.isBacklogged || !filled { return }
            case .wouldBlock:
                return
            case .endOfStream:
                close(session)
                return
            case .failed(let error):
                report(error, on: session)
                close(session)
                return
            }
        }
    }

    /// A failed read or flush: TLS failures (plaintext on a TLS port, a certificate that does
    /// not verify) are worth a line; a client that went away is not.
    private func report(_ error: ChannelError, on session: Session) {
        if case .tls = error {
            notice(.tls, "connection \(session.token): \(error); closing it")
        } else {
            logger.debug("connection \(session.token): \(error)")
        }
    }

    /// How many more bytes the frame at the head of the input needs.
    private func bytesStillNeeded(_ session: Session) -> Int {
        let input = session.channel.input.readable
        guard input.count >= Framing.headerSize else { return Framing.headerSize - input.count }
        let length = Int(input.loadUnaligned(as: UInt32.self).bigEndian)
        return min(length, session.maxFrame) + Framing.headerSize - input.count
    }

    /// Decodes and handles every whole frame in the input, in order, until the output
    /// passes the high-water mark (the rest waits for `flush` to drain it) or the session's
    /// request budget runs out (the rest waits in `backlog`).
    private func handleInput(_ session: Session) {
        defer { markDirty(session) }
        while !session.isThrottled {
            guard session.requestBudget > 0 else {
                if session.hasWholeFrame {
                    session.isBacklogged = true
                    backlog.append(session)
                    loop.wakeImmediately()
                }
                return
            }
            let input = session.channel.input.readable
            switch Framing.scan(input, maxFrame: session.maxFrame) {
            case .incomplete:
                session.channel.input.shrinkIfSmall()
                return
            case .tooLarge(let length):
                if clientTLS == nil, input.count >= 3, input[0] == 0x16, input[1] == 0x03 {
                    // A TLS handshake record (type 22, version 3.x) read as a frame length.
                    notice(.tls, "connection \(session.token): a TLS handshake on the plain client port (doozerd speaks TLS with -tlscert and -tlskey); closing it")
                } else {
                    notice(.frameTooLarge, "connection \(session.token): frame of \(length) bytes exceeds -maxframe \(session.maxFrame); closing it")
                }
                close(session)
                return
            case .frame(let count):
                let payload = UnsafeRawBufferPointer(rebasing: input[Framing.headerSize..<(Framing.headerSize + count)])
                do {
                    let request = try RequestView(decoding: payload)
                    requestCount &+= 1
                    session.requestBudget -= Server.cost(of: request)
                    handle(request, from: session)
                } catch {
                    notice(.undecodable, "connection \(session.token): undecodable request (\(error.reason)); closing it")
                    close(session)
                    return
                }
                session.channel.input.consume(Framing.headerSize + count)
            }
        }
    }

    func markDirty(_ session: Session) {
        if !session.isDirty && session.isOpen {
            session.isDirty = true
            dirty.append(session)
        }
    }

    /// Sends what a dirty connection has buffered, resumes handling input it held back while
    /// over the high-water mark, and sets its epoll interest: write interest while the kernel
    /// pushes back, no read interest while over the mark.
    private func flush(_ session: Session) {
        session.isDirty = false
        guard session.isOpen else { return }
        if session.isOverLimit {
            notice(.unreadAnswers, "connection \(session.token): more than \(outputLimit) bytes of answers unread; closing it")
            return close(session)
        }
        if case .failed(let error) = session.channel.flush() {
            report(error, on: session)
            return close(session)
        }
        session.channel.output.shrinkIfSmall()
        if !session.isThrottled, !session.isBacklogged, session.hasWholeFrame {
            session.requestBudget = Server.requestBudget
            handleInput(session)   // frames held back while throttled; flushed again this pass
            return
        }
        do {
            let reading = !session.isThrottled && !session.isBacklogged
            try loop.updateInterest(of: &session.channel, reading: reading, token: session.token)
            if reading && clientTLS != nil { noteHiddenInput(session) }
        } catch {
            logger.error("connection \(session.token): \(error)")
            close(session)
        }
    }

    // MARK: Waiting on the store

    /// Serves, once each, the connections whose budget ran out earlier in this iteration
    /// (or the last); those that run out again wait for the next iteration.
    private func serveBacklog() {
        guard !backlog.isEmpty else { return }
        let waiting = backlog
        backlog.removeAll(keepingCapacity: true)
        for session in waiting where session.isOpen {
            session.isBacklogged = false
            session.requestBudget = Server.requestBudget
            handleInput(session)
        }
    }

    /// What a request takes from its connection's budget: 1, plus for GETDIR and WALK a unit
    /// per 1024 entries its offset may make the store step over.
    static func cost(of request: RequestView) -> Int {
        guard let offset = request.offset, offset > 0, let verb = request.verb,
              verb == Verb.walk.rawValue || verb == Verb.getdir.rawValue else { return 1 }
        return 1 + Int(offset) / 1024
    }

    /// Parks a WAIT in the store; it is answered from `applyDecided`.
    func registerWait(_ glob: Glob, from start: Int64, tag: Int32?, session: Session) -> Store.WaitResult {
        let owner = WatchOwner(token: session.token, cookie: tag.map(Int64.init) ?? Server.noTag)
        let result = store.wait(glob, from: start, owner: owner)
        if case .pending(let watch) = result {
            session.pendingWaits += 1
            session.remember(watch, in: store)
        }
        return result
    }

    /// A WAIT's tag as its watch's cookie: the tag itself, or this for a request without one.
    static let noTag = Int64.min

    static func tag(_ cookie: Int64) -> Int32? {
        cookie == noTag ? nil : Int32(truncatingIfNeeded: cookie)
    }

    func park(_ read: ParkedRead, until rev: Int64, session: Session) {
        parkedReads[rev, default: []].append(read)
        session.parkedRevisions.append(rev)
    }

}

extension Server: EventLoopHandler {
    /// Dispatches a ready descriptor by what its token names in `registry`.
    public func ready(token: UInt64, events: IOEvents) {
        switch registry[token] {
        case .client(let session):
            if events.contains(.writable) { markDirty(session) }
            if events.contains(.readable) {
                readable(session)
            } else if !events.isDisjoint(with: [.hangup, .error]) {
                close(session)   // reported whatever the interest; nothing more will arrive
            }
        case .web(let session):
            webReady(session, events: events)
        case .clientListener:
            acceptAll()
        case .signals:
            while let signal = try? signals.next() {
                if signal == TerminationSignals.hangup {
                    reloadTLS()
                    reloadPeerKeys()
                    continue
                }
                if signal == TerminationSignals.logLevelToggle {
                    toggleLogLevel()
                    continue
                }
                logger.info("signal \(signal): shutting down")
                loop.stop()
            }
        case .webListener:
            if let web { acceptWeb(web) }
        case .peers:
            cluster.peersReadable()
        case .peerStream(let stream):
            streams.ready(stream, events: events)
        case .log:
            cluster.logCompleted()
        case .snapshots:
            cluster.snapshotJobDone()
        case nil:
            break   // closed earlier in this iteration
        }
    }

    public func timerFired(_ token: UInt64) {
        guard let timer = Timer(rawValue: token) else { return }
        if let nodeTimer = timer.nodeTimer { return cluster.timerFired(nodeTimer) }
        switch timer {
        case .resumeAccepting:
            try? loop.update(listener, interest: .readable, token: listenerToken)
        case .webTick:
            webTick()
        case .resumeWebAccepting:
            if let web { try? loop.update(web.fd, interest: .readable, token: web.token) }
        case .stateCopy:
            stateCopyTimer()
        case .tlsHandshakes:
            tlsHandshakeTimer()
        case .consensus, .liveness, .peerBacklog, .lazyCommit, .pulse:
            break   // the sequencer's, above
        }
    }

    /// Arms one of the server's timers.
    func schedule(_ timer: Timer, after delay: Int64) {
        loop.schedule(after: delay, timer: timer.rawValue)
    }

    public func iterationDone() {
        readHiddenInput()
        if historyScansLeft { continueHistoryScans() }
        serveBacklog()
        cluster.pump()        // writes decided in this iteration are answered in this iteration
        cluster.commitLog()   // ...or, durable, once the sync started here returned
        var index = 0
        while index < dirty.count {   // flushing may dirty more sessions
            flush(dirty[index])
            index += 1
        }
        dirty.removeAll(keepingCapacity: true)
        flushWebConnections()
        historyScansLeft = store.hasHistoryScans
        if historyScansLeft { loop.wakeImmediately() }
    }
}
