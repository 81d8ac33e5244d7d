import Dispatch
import DoozerConsensus
import DoozerLog
import DoozerPeer
import DoozerStore
import DoozerSystem
import DoozerWire
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The sequencer of a node in a cluster (every node is one; a seed is a cluster of one).
///
/// Owns the node's `Consensus` and its `PeerTransport`, and keeps both in step with the
/// replicated `/ctl` tree: the member set (`/ctl/cal`) and the peers' addresses
/// (`/ctl/node/<id>/addr`). Applies decided batches to the store through the server, in
/// order, one revision per proposal. Does the membership bookkeeping of §4.12–§5.5: a slave
/// claims an empty slot and, once a member, writes `writable`; the leader removes members and
/// slaves that have been silent for `-timeout` (B11, B15); a node the cluster removed while
/// it was away exits with one clear line instead of lingering (B11).
///
/// Runs on the server's loop thread; never blocks. Consensus outputs are carried out in
/// `pump`, which the server calls after every input and once per loop iteration before it
/// flushes client connections, so a write decided in an iteration is answered in it (a
/// durable node's, once durable at a quorum: see `carryOut`).
final class ClusterSequencer: Sequencer {
    /// Unchecked: the server owns its sequencer, so it outlives it.
    private unowned(unsafe) let server: Server
    private(set) var consensus: Consensus
    let transport: PeerTransport
    /// Streams to peers for the messages too large for one datagram.
    let streams: PeerStreams
    let me: PeerID
    private var logger: Logger { server.logger }

    private var membership: Membership
    /// `/ctl/node` changed in an applied event: the address table is rebuilt after the batch.
    private var nodesChanged = false
    /// A slot under `/ctl/cal` changed: a slave looks for one to claim.
    private var slotsChanged = true
    /// The claim in flight (slot path and the slot's rev it is conditional on).
    private var claim: (path: [UInt8], rev: Int64)?
    private var wasMember = false
    /// When the leader started watching each node, and when it last proposed its removal.
    private var watchedSince: [PeerID: Int64] = [:]
    private var removalProposed: [PeerID: Int64] = [:]
    /// Not-a-member notices from members, by member, with when they came.
    private var notices: [PeerID: Int64] = [:]
    /// The consensus timer is armed for this time (`.max`: not armed).
    private var armedAt = Int64.max
    /// The timer that sends the rest of a large message is armed.
    private var backlogArmed = false
    /// The state copy in flight, from a background thread, for a node that fell behind.
    private var catchUp: CatchUp?
    /// (`-data` only.) A copied state whose snapshot file the worker is writing.
    private var installing: (Snapshot, Bootstrap)?
    /// The transport's address table, by peer.
    private var addresses: [PeerID: SocketAddress] = [:]
    /// (`-data` only.) Messages consensus produced after a durable change not yet on stable
    /// storage, in order, each with the log index it waits for (`.max`: the end of the pump
    /// that produced it). Bounded by what consensus outputs between two syncs.
    private var heldMessages: [(peer: PeerID, message: Message, after: UInt64)] = []
    private var heldHead = 0
    /// Durable changes asked for in this pump, written at its end.
    private var pendingChanges: [DurableChange] = []
    /// The log index of the last durable change written.
    private var lastChange: UInt64 = 0
    /// The log index of each vote written, by instance, until the instance is decided (at most
    /// the votes consensus holds).
    private var voteRecords: [Int64: UInt64] = [:]
    /// The spare buffer `pump` takes consensus outputs into: traded with consensus's own on
    /// every take, so a pump allocates no array for them.
    private var spareOutputs: [Output] = []
    /// The leader last logged, so each change of leader is logged once.
    private var loggedLeader: PeerID?
    private var loggedCandidacy = Ballot.zero

    init(server: Server, consensus: Consensus, transport: PeerTransport, store: Store) {
        self.server = server
        self.consensus = consensus
        self.transport = transport
        self.me = consensus.me
        membership = Membership(store.current)
        wasMember = consensus.isMember
        streams = PeerStreams(server: server, header: transport.recordHeader)
        transport.onNotMember = { [unowned self] peer in noticed(by: peer) }
        transport.streamLargeMessage = { [streams] address, item in streams.send(item, to: address) }
        refreshPeers()
    }

    /// What a joiner starts from, consistent with the store's current revision.
    var bootstrapState: Bootstrap { consensus.bootstrapState }

    /// A seed laid out its store by itself (§5.2): it reads its member set and its own
    /// address from it and leads at once.
    func startSeed() {
        membership = Membership(server.store.current)
        refreshPeers()
        wasMember = consensus.isMember
        consensus.campaign()
        pump()
    }

    /// A durable node restarted from its data directory reads its member set and peers from
    /// its store. A member alone leads at once; one of several waits for its first election
    /// timeout (a quarter of the usual), so a live leader keeps its office and a cluster
    /// restarted whole still elects quickly. A slave follows a member of its schedule.
    func resume() {
        membership = Membership(server.store.current)
        refreshPeers()
        wasMember = consensus.isMember
        let members = consensus.members(at: consensus.applied + 1)
        if !consensus.isMember {
            consensus.upstream = members.first { $0 != me }
        } else if members == [me] {
            consensus.campaign()
        }
        pump()
    }

    // MARK: Sequencer

    func submit(_ mutation: [UInt8], proposal: ProposalID) {
        if mutation.count > server.configuration.maxWrite {   // B3: refused before it is proposed
            server.failProposal(proposal, .valueTooLarge)
            return
        }
        var bookkeeping = false
        if case .node = server.pendingWrites.origin(proposal) { bookkeeping = true }
        switch consensus.propose(mutation, tag: proposal, fromSlave: bookkeeping, now: server.loop.now) {
        case .accepted: break
        case .notMember: server.failProposal(proposal, .readonly)
        case .overloaded: server.failProposal(proposal, .tooManyInFlight)
        }
    }

    // MARK: Driving consensus

    /// Reads every datagram the peers sent (a bounded number per call), then carries out
    /// what consensus asks.
    func peersReadable() {
        do {
            let now = server.loop.now
            try transport.receive(budget: 4096) { peer, message in consensus.receive(message, from: peer, now: now) }
        } catch {
            logger.error("peer socket: \(error)")
        }
        pump()
    }

    /// A record on a peer's stream to this node (`Verb.peer`): its message goes to consensus
    /// as a datagram's would. The first record from a peer of this cluster (its header alone)
    /// lets the connection carry frames up to the transport's largest message. False when the
    /// record failed the checks (dropped and counted; it grants nothing): the sender is told,
    /// so it sends that peer's large messages another way.
    func streamed(_ record: UnsafeRawBufferPointer, on session: Session) -> Bool {
        if session.remoteAddress == nil { session.remoteAddress = try? Socket.peerAddress(session.channel.fd) }
        guard let source = session.remoteAddress else { return false }
        let now = server.loop.now
        let sender = transport.receiveStreamed(record, from: source) { peer, message in
            consensus.receive(message, from: peer, now: now)
        }
        guard sender != nil else { return false }
        session.maxFrame = max(session.maxFrame, transport.limits.maxMessageSize + Self.recordOverhead)
        return true
    }

    /// Bytes of a `Verb.peer` request besides its record's message: frame fields, record
    /// header, item kind.
    private static let recordOverhead = 64

    func backlogTimerFired() {
        backlogArmed = false
        pump()
    }

    func timerFired() {
        armedAt = .max
        consensus.tick(now: server.loop.now)
        pump()
    }

    /// Ends a batch of inputs: forms and sends batches, applies what was decided, answers
    /// through the server, sends datagrams, re-arms the consensus timer.
    func pump() {
        consensus.flush()
        var outputs: [Output] = []
        swap(&outputs, &spareOutputs)   // a nested pump would start from a new buffer
        while true {
            consensus.takeOutputs(into: &outputs)
            if outputs.isEmpty { break }
            for output in outputs { carryOut(output) }
            outputs.removeAll(keepingCapacity: true)
            consensus.flush()
        }
        spareOutputs = outputs
        writeChanges()
        do {
            try transport.flush()
        } catch {
            logger.error("peer socket: \(error)")
        }
        if transport.hasBacklog && !backlogArmed {
            // Fragments of large messages beyond this flush's datagrams go out next, paced.
            backlogArmed = true
            server.loop.schedule(after: 100_000, timer: Server.Timer.peerBacklog)
        }
        if inPlace({ $0.candidacy }) != loggedCandidacy {
            loggedCandidacy = consensus.candidacy
            logger.info("standing for election in round \(loggedCandidacy.round) (leader was \(loggedLeader.map { "\($0)" } ?? "unknown"))")
        }
        if consensus.leader != loggedLeader, inPlace({ $0.isMember }) {
            loggedLeader = consensus.leader
            if consensus.isLeader {
                logger.info("leading cluster \(server.configuration.clusterName) from rev \(server.store.rev)")
            } else if let leader = consensus.leader {
                logger.info("following leader \(leader)")
            }
        }
        let deadline = inPlace { $0.nextDeadline }
        if deadline < armedAt {
            armedAt = deadline
            server.loop.schedule(after: max(1, deadline - server.loop.now), timer: Server.Timer.consensus)
        }
    }

    /// Reads a computed property of `consensus` in place: read through this class, the
    /// struct would be copied whole first (every table in it retained and released), on the
    /// path every input takes.
    private func inPlace<T>(_ read: (inout Consensus) -> T) -> T { read(&consensus) }

    private func carryOut(_ output: Output) {
        switch output {
        case .send(let peer, let message):
            if let nodeLog = server.nodeLog,
               !pendingChanges.isEmpty || heldHead < heldMessages.count || lastChange > nodeLog.durableIndex {
                heldMessages.append((peer, message, .max))
            } else {
                send(message, to: peer)
            }
        case .decided(let instance, let batch, let durableElsewhere):
            guard let nodeLog = server.nodeLog else { return apply(instance, batch) }
            // Durable at a quorum of others: at once. Else the quorum counts this node's vote:
            // once that vote's record is synced — or the decided record, when the vote is still
            // to be written in this pump (a newer ballot's; elided) — and every message after
            // this waits for that record too, since it may tell of the decision.
            let recorded = voteRecords.removeValue(forKey: instance)
            let votePending = pendingChanges.contains { if case .vote(let e) = $0 { e.instance == instance } else { false } }
            do {
                try nodeLog.hold(instance, batch, after: durableElsewhere ? 0 : votePending ? nil : recorded)
            } catch {
                return server.storageFailed(error)
            }
            if !durableElsewhere { lastChange = max(lastChange, nodeLog.appendedIndex) }
            for ready in nodeLog.takeReady() where ready.instance > consensus.applied { apply(ready.instance, ready.batch) }
        case .snapshotNeeded(let peer):
            startCatchUp(from: peer)
        case .abandoned(let tags):
            for tag in tags { server.failProposal(tag, .outcomeUnknown) }
        case .persist(let change):
            pendingChanges.append(change)
        }
    }

    private func send(_ message: Message, to peer: PeerID) {
        do {
            try transport.send(message, to: peer)
        } catch {
            logger.debug("to \(peer): \(error)")
        }
    }

    /// Writes the durable changes of this pump to the log, but votes for instances decided in
    /// it: the decided record, written with them, supersedes them (a leader alone, or a
    /// follower that learned the outcome at once, writes each batch once). The messages held
    /// in the pump wait for everything it wrote.
    private func writeChanges() {
        guard let nodeLog = server.nodeLog, !pendingChanges.isEmpty || heldMessages.last?.after == .max else { return }
        do {
            for change in pendingChanges {
                if case .vote(let entry) = change, entry.instance <= consensus.decided { continue }
                lastChange = try nodeLog.persist(change)
                if case .vote(let entry) = change { voteRecords[entry.instance] = lastChange }
            }
        } catch {
            server.storageFailed(error)
        }
        pendingChanges.removeAll(keepingCapacity: true)
        var i = heldMessages.count - 1
        while i >= heldHead && heldMessages[i].after == .max {
            heldMessages[i].after = nodeLog.appendedIndex
            i -= 1
        }
    }

    /// (`-data` only.) Messages wait for a sync.
    var waitsForSync: Bool { heldHead < heldMessages.count }

    /// The log synced through `durable`: the held messages that waited for it go out, in order.
    func releaseMessages(durableThrough durable: UInt64) {
        while heldHead < heldMessages.count && heldMessages[heldHead].after <= durable {
            send(heldMessages[heldHead].message, to: heldMessages[heldHead].peer)
            heldHead += 1
        }
        if heldHead == heldMessages.count {
            heldMessages.removeAll(keepingCapacity: true)
            heldHead = 0
        }
    }

    /// Applies a decided batch: at once, or for a durable node once the log synced it.
    func apply(_ instance: Int64, _ batch: Batch) {
        for proposal in batch {
            // Own proposals of an earlier run of this node (before a restart) are nobody's to
            // answer: their tags may name this run's writes.
            let own = proposal.origin == me && proposal.seq >= consensus.firstOwnSeq
            let event = server.applyDecided(proposal.payload, proposal: own ? proposal.tag : nil)
            membership.note(event)
            if event.path.starts(with: Self.nodeDirectory) { nodesChanged = true }
            if Membership.isSlot(event.path) { slotsChanged = true }
        }
        consensus.applied(instance, members: membership.refresh(server.store.current))
        if nodesChanged {
            nodesChanged = false
            refreshPeers()
        }
        membershipMayHaveChanged()
    }

    /// One line of this node's peer traffic since start, as `key=value` pairs (doozer-bench
    /// reads it from the log at shutdown): datagrams and UDP payload bytes each way, the
    /// sendmmsg calls, consensus messages, the last decided instance, and datagrams dropped.
    var trafficSummary: String {
        let channel = transport.channelStats
        let peer = transport.stats
        let dropped = channel.droppedTruncated + channel.droppedMalformed + channel.droppedBackpressure
            + channel.droppedSendErrors + peer.droppedOutboxFull + peer.droppedBacklogFull
        return "peer traffic: datagrams_sent=\(channel.datagramsSent) bytes_sent=\(channel.bytesSent)"
            + " send_calls=\(channel.sendCalls) datagrams_received=\(channel.datagramsReceived)"
            + " bytes_received=\(channel.bytesReceived) messages_sent=\(peer.messagesSent)"
            + " messages_received=\(peer.messagesReceived) decided=\(consensus.decided) dropped=\(dropped)"
            + " fragments_sent=\(peer.fragmentsSent) messages_streamed=\(peer.messagesStreamed)"
            + " records_received=\(peer.recordsReceived) streams_opened=\(streams.stats.opened)"
            + " streams_failed=\(streams.stats.failed) streamed_dropped=\(streams.stats.dropped)"
    }

    // MARK: Catching up

    /// A state copy running on a background thread; the loop polls it (`catchUpTimer`).
    private final class CatchUp: Sendable {
        private let result = Guarded<Result<(Snapshot, Bootstrap), any Error>?>(nil)

        func finish(_ outcome: Result<(Snapshot, Bootstrap), any Error>) {
            result.withLock { $0 = outcome }
        }

        func take() -> Result<(Snapshot, Bootstrap), any Error>? {
            result.withLock { $0 }
        }
    }

    /// This node fell behind what `peer` keeps of the decided log: copy `peer`'s state (the
    /// joiner's transfer, on a background thread so the loop keeps serving reads), then
    /// install it. One copy at a time.
    private func startCatchUp(from peer: PeerID) {
        guard catchUp == nil, installing == nil, let address = addresses[peer] else { return }
        logger.notice("fell behind what \(address) keeps of the decided log; copying its state")
        let copy = CatchUp()
        catchUp = copy
        let configuration = server.configuration
        DispatchQueue.global().async {
            copy.finish(Result { try Attach.copyState(from: address.description, configuration: configuration) })
        }
        server.loop.schedule(after: 10_000_000, timer: Server.Timer.catchUp)
    }

    func catchUpTimer() {
        guard let copy = catchUp else { return }
        guard let result = copy.take() else {
            server.loop.schedule(after: 10_000_000, timer: Server.Timer.catchUp)
            return
        }
        catchUp = nil
        switch result {
        case .failure(let error):
            logger.error("catching up failed: \(error); trying again when next asked")
        case .success(let (snapshot, bootstrap)):
            guard snapshot.rev > server.store.rev, bootstrap.instance > consensus.decided else {
                logger.info("caught up through the log meanwhile (rev \(server.store.rev)); the copy at rev \(snapshot.rev) is not needed")
                return
            }
            guard let nodeLog = server.nodeLog else { return install(snapshot, bootstrap) }
            // Durable: the copy becomes a snapshot file first (`installWritten`), once the
            // snapshot cycle in progress, if any, is over.
            if nodeLog.snapshotInProgress {
                catchUp = copy
                server.loop.schedule(after: 10_000_000, timer: Server.Timer.catchUp)
                return
            }
            do {
                if try nodeLog.startInstall(snapshot, bootstrap) { installing = (snapshot, bootstrap) }
            } catch {
                logger.error("cannot write the state copied at rev \(snapshot.rev): \(error); catching up again when next asked")
            }
        }
    }

    /// (`-data` only.) The file of the state copied from a member is written: its record goes
    /// to the log, then the state is installed; what depends on it waits for the record's sync.
    func installWritten(_ record: NodeLog.SnapshotRecord) throws(LogError) {
        guard let (snapshot, bootstrap) = installing, let nodeLog = server.nodeLog else { return }
        installing = nil
        guard bootstrap.instance > consensus.decided else {
            logger.info("caught up through the log meanwhile (rev \(server.store.rev)); the copy at rev \(snapshot.rev) is not needed")
            return
        }
        lastChange = try nodeLog.recordInstall(record, durable: consensus.durableState)
        install(snapshot, bootstrap)
    }

    /// (`-data` only.) The install's file could not be written (the worker logged why): the
    /// copy is dropped, and the next time consensus asks for a snapshot a new one is made.
    func installFailed() { installing = nil }

    private func install(_ snapshot: Snapshot, _ bootstrap: Bootstrap) {
        server.install(snapshot)
        consensus.install(bootstrap)
        voteRecords = voteRecords.filter { $0.key > bootstrap.instance }
        membership = Membership(server.store.current)
        refreshPeers()
        slotsChanged = true
        membershipMayHaveChanged()
        pump()
    }

    // MARK: Membership

    private static let nodeDirectory = Array("/ctl/node/".utf8)

    /// Rebuilds the transport's address table from `/ctl/node/<id>/addr`: members and slaves.
    private func refreshPeers() {
        var table: [PeerID: SocketAddress] = [:]
        server.store.current.forEachFile(under: "/ctl/node") { path, body, _ in
            guard path.count > Self.nodeDirectory.count, path.ends(with: Self.addrLeaf) else { return }
            let id = path[Self.nodeDirectory.count..<(path.count - Self.addrLeaf.count)]
            if let address = try? SocketAddress.resolve(String(decoding: body, as: UTF8.self)) {
                table[PeerID(nodeID: id)] = address
            }
        }
        transport.setPeers(table)
        streams.keep(only: table.values)
        addresses = table
    }

    private static let addrLeaf = Array("/addr".utf8)

    /// After each applied instance: a node that just became a member says so; one that just
    /// stopped being one (removed, B11) answers writes READONLY from now on; a slave claims
    /// an empty slot.
    private func membershipMayHaveChanged() {
        let member = inPlace { $0.isMember }
        if member != wasMember {
            wasMember = member
            server.isWritable = member
            if member {
                logger.info("now a member of cluster \(server.configuration.clusterName) at rev \(server.store.rev)")
                server.becameMember()
            } else {
                logger.warning("no longer a member of cluster \(server.configuration.clusterName) at rev \(server.store.rev): answering writes READONLY")
            }
        }
        if !member && slotsChanged {
            slotsChanged = false
            claimSlot()
        }
    }

    /// §5.5: a slave claims the first empty slot (conditional on its rev, so of several
    /// slaves only one wins), one claim at a time; a slot assigned to it by hand needs none.
    private func claimSlot() {
        let scheduled = consensus.scheduleEntries.contains { $0.members.contains(me) }
        guard !scheduled else { return }
        let snapshot = server.store.current
        if let claim, case .file(let body, let rev) = snapshot.lookup(claim.path), rev == claim.rev, body.isEmpty {
            return   // still in flight
        }
        claim = nil
        var empty: (path: [UInt8], rev: Int64)?
        snapshot.forEachFile(under: "/ctl/cal") { path, body, rev in
            if empty == nil && body.isEmpty && Membership.isSlot(path) { empty = (path, rev) }
        }
        guard let empty else { return }
        claim = empty
        logger.info("claiming \(String(decoding: empty.path, as: UTF8.self))")
        server.propose(Mutation.set(empty.path, rev: empty.rev, body: server.id.bytes), origin: .node("slot claim"))
    }

    // MARK: Liveness

    /// The leader's failure detector (§4.12, on a timer, B25): a member or slave not heard
    /// from for `-timeout` has its slot emptied and its `/ctl/node` entry deleted (B15), each
    /// write conditional on what it replaces. Other nodes only watch.
    func checkLiveness() {
        guard consensus.isLeader else {
            watchedSince.removeAll()
            return
        }
        let now = server.loop.now
        let timeout = server.configuration.memberTimeout
        let snapshot = server.store.current
        // Every node with an entry, and every id a slot names (a slot can outlive its node's
        // entry: the emptying write lost a race, or an operator wrote a wrong id).
        var nodes: [[UInt8]] = []
        if case .directory = snapshot.lookup("/ctl/node") {
            var offset = 0
            while case .name(let name) = snapshot.entry(ofDirectory: "/ctl/node", at: offset) {
                nodes.append(name)
                offset += 1
            }
        }
        snapshot.forEachFile(under: "/ctl/cal") { path, body, _ in
            if !body.isEmpty && Membership.isSlot(path) && !nodes.contains(body) { nodes.append(body) }
        }
        var seen = Set<PeerID>()
        for id in nodes {
            let peer = PeerID(nodeID: id)
            seen.insert(peer)
            guard peer != me else { continue }
            let since = watchedSince[peer] ?? now
            watchedSince[peer] = since
            let heard = max(since, consensus.lastHeard[peer] ?? .min)
            guard now - heard > timeout else { continue }
            if let proposed = removalProposed[peer], now - proposed < timeout { continue }
            removalProposed[peer] = now
            remove(id, silentFor: now - heard, in: snapshot)
        }
        for peer in watchedSince.keys where !seen.contains(peer) {
            watchedSince[peer] = nil
            removalProposed[peer] = nil
        }
    }

    private func remove(_ id: [UInt8], silentFor silence: Int64, in snapshot: Snapshot) {
        let name = String(decoding: id, as: UTF8.self)
        let address: String
        if case .file(let body, _) = snapshot.lookup("/ctl/node/\(name)/addr") {
            address = String(decoding: body, as: UTF8.self)
        } else {
            address = "?"
        }
        logger.notice("removing node \(name) (\(address)): silent for \(silence / 1_000_000) ms")
        snapshot.forEachFile(under: "/ctl/cal") { path, body, rev in
            if body == id && Membership.isSlot(path) {
                server.propose(Mutation.set(path, rev: rev, body: []), origin: .node("member removal"))
            }
        }
        snapshot.forEachFile(under: "/ctl/node/\(name)") { path, _, rev in
            server.propose(Mutation.delete(path, rev: rev), origin: .node("node removal"))
        }
        if let uri = server.bootURI {
            Boot.forget(node: name, uri: uri, configuration: server.configuration, logger: logger)   // B14
        }
    }

    /// A member says this node is not part of the cluster any more (it was removed while
    /// away). With that word from a quorum of the members it knows — or from two of them, for
    /// a slave — it leaves with one clear line rather than linger (B11).
    private func noticed(by peer: PeerID) {
        let members = consensus.members(at: consensus.decided + 1)
        guard members.contains(peer) else { return }
        let now = server.loop.now
        notices[peer] = now
        notices = notices.filter { now - $0.value < 5_000_000_000 }
        // A slave hears from few members, and one that has not applied the slave's address yet
        // would also say so: two of them (or the only one) are needed.
        let needed = consensus.isMember ? members.count / 2 + 1 : min(2, members.count)
        guard notices.count >= needed else { return }
        logger.critical("this node was removed from cluster \(server.configuration.clusterName) while it was unreachable; exiting (restart it to join again as a new node)")
        exit(1)
    }
}

extension ProposalError {
    /// B3: a write the peer transport could not carry is refused before it is proposed.
    static let valueTooLarge = ProposalError(code: .other, detail: "value too large (see doozerd -maxwrite)")
    /// The node is not a member (a slave, or removed): it takes no writes.
    static let readonly = ProposalError(code: .readonly, detail: nil)
    /// The node lost track of this write: it stopped being a member, or jumped ahead to a
    /// snapshot, with the write in flight.
    static let outcomeUnknown = ProposalError(code: .other, detail: "outcome unknown: this node left the cluster or caught up from a snapshot while the write was in flight")
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
