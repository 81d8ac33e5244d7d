import DoozerConsensus
import DoozerDurability
import DoozerLog
import DoozerPeer
import DoozerStore
import DoozerSystem
import Logging

/// The sequencer of a node in a cluster (every node is one; a seed is a cluster of one): the
/// node core between its host (`NodeHost`: the server, or the simulation), its peers
/// (`PeerTransport`) and its disk (`NodeLog`, `-data` only).
///
/// Owns the node's `Consensus`, the `Outbox` that decides when each of its outputs may take
/// effect, the transport and the log, and keeps consensus in step with the replicated `/ctl`
/// tree: the member set (`/ctl/cal`) and the peers' addresses (`/ctl/node/<id>/addr`).
/// Applies decided batches through the host, in order, one revision per proposal. Does the
/// membership bookkeeping of §4.12–§5.5: a slave claims an empty slot and, once a member,
/// writes `writable`; every node pulses `applied`; the leader removes members and slaves that
/// have been silent for `-timeout` (B11, B15); a node the cluster removed while it was away
/// leaves with one clear line instead of lingering (B11). A node that fell behind what its
/// peers keep copies a member's state (through the host) and installs it — a durable node only
/// once that state is on its disk. It says when it loses touch with its majority.
///
/// Runs on the host's thread; never blocks. Consensus outputs are carried out in `pump`,
/// which the host calls after every input and once per loop iteration before it flushes
/// client connections, so a write decided in an iteration is answered in it (a durable
/// node's, once durable at a quorum: see `Outbox`).
package final class ClusterSequencer: Sequencer {
    /// Unchecked: the host owns its sequencer, so it outlives it.
    private unowned(unsafe) let host: any NodeHost
    package private(set) var consensus: Consensus
    package let transport: PeerTransport
    /// The node's durable log (`-data`), nil for a memory-only node.
    package let nodeLog: NodeLog?
    package let me: PeerID
    private let settings: NodeSettings
    private let logger: Logger

    /// Which of consensus's outputs may take effect now (persist before send; apply once
    /// durable at a quorum).
    private var outbox: Outbox
    /// The spare buffers `pump` takes consensus outputs and the outbox's effects into: traded
    /// with the ones in use on every take, so a pump allocates no array for them.
    private var spareOutputs: [Output] = []
    private var spareEffects: [Outbox.Effect] = []

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
    private var lazyCommitArmed = false
    /// A copy of a peer's state is being made by the host.
    private var copying = false
    /// (`-data` only.) A copied state waiting for the snapshot cycle in progress to end, and
    /// one whose snapshot file the worker is writing.
    private var copyToWrite: (Snapshot, Bootstrap)?
    private var writingCopy: (Snapshot, Bootstrap)?
    /// (`-data` only.) A copied state whose record is not durable yet: the store is replaced
    /// once it is (`Outbox.Effect.install`).
    private var recordedCopy: (snapshot: Snapshot, instance: Int64)?
    /// The log failed: nothing more is applied or acknowledged.
    private var stopped = false
    /// The transport's address table, by peer.
    private var addresses: [PeerID: SocketAddress] = [:]
    /// Each peer's node id (from `/ctl/node/<id>/addr`), so logs name nodes as operators do.
    private var names: [PeerID: String] = [:]
    /// The leader last logged, so each change of leader is logged once.
    private var loggedLeader: PeerID?
    private var loggedCandidacy = Ballot.zero

    package init(host: any NodeHost, settings: NodeSettings, consensus: Consensus, transport: PeerTransport,
                 nodeLog: NodeLog?, logger: Logger) {
        precondition(consensus.options.durable == (nodeLog != nil), "a durable consensus needs a log, and only it")
        self.host = host
        self.settings = settings
        self.consensus = consensus
        self.transport = transport
        self.nodeLog = nodeLog
        self.logger = logger
        me = consensus.me
        outbox = Outbox(durable: nodeLog != nil)
        membership = Membership(host.store.current)
        wasMember = consensus.isMember
        transport.onNotMember = { [unowned self] peer in noticed(by: peer) }
        refreshPeers()
    }

    /// What a joiner starts from, consistent with the store's current revision; nil while a
    /// copied state waits to be installed (consensus is already past the store).
    package var bootstrapState: Bootstrap? { recordedCopy == nil ? consensus.bootstrapState : nil }

    /// A seed laid out its store by itself (§5.2): it reads its member set and its own
    /// address from it and leads at once; `writable` is decided first (the seed leads alone),
    /// then the first pulse, which reports the revision that includes it.
    package func startSeed() {
        membership = Membership(host.store.current)
        refreshPeers()
        wasMember = consensus.isMember
        consensus.campaign()
        proposeWritable()
        pump()
        start()
    }

    /// A slave that attached to a running cluster follows it.
    package func startJoined() {
        start()
    }

    /// A durable node restarted from its data directory reads its member set and peers from
    /// its store. A member alone leads at once; one of several waits for its first election
    /// timeout (a quarter of the usual), so a live leader keeps its office and a cluster
    /// restarted whole still elects quickly. A slave follows a member of its schedule.
    package func resume() {
        membership = Membership(host.store.current)
        refreshPeers()
        wasMember = consensus.isMember
        let members = consensus.members(at: consensus.applied + 1)
        if !consensus.isMember {
            consensus.upstream = members.first { $0 != me }
        } else if members == [me] {
            consensus.campaign()
        }
        start()
    }

    private func start() {
        host.schedule(.liveness, after: livenessInterval)
        pulse()
        pump()
    }

    /// Proposes `/ctl/node/<id>/applied` and schedules the next pulse (§4.13). Slaves pulse
    /// too, so the leader sees them alive (B15).
    private func pulse() {
        host.propose(Mutation.set(nodePath("applied"), rev: -1, body: Array(String(host.store.rev).utf8)), bookkeeping: "pulse")
        host.schedule(.pulse, after: settings.pulseInterval)
    }

    /// §5.5 steps 6–7: a node that became a member says so.
    private func proposeWritable() {
        host.propose(Mutation.set(nodePath("writable"), rev: 0, body: Array("true".utf8)), bookkeeping: "writable")
    }

    private func nodePath(_ leaf: String) -> [UInt8] {
        Array("/ctl/node/".utf8) + settings.id + Array("/\(leaf)".utf8)
    }

    // MARK: Sequencer

    package func submit(_ mutation: [UInt8], proposal: ProposalID, bookkeeping: Bool) {
        if mutation.count > settings.maxWrite {   // B3: refused before it is proposed
            return host.failProposal(proposal, .tooLarge)
        }
        switch consensus.propose(mutation, tag: proposal, fromSlave: bookkeeping, now: host.now) {
        case .accepted: break
        case .notMember: host.failProposal(proposal, .readonly)
        case .overloaded: host.failProposal(proposal, .overloaded)
        }
    }

    // MARK: Inputs

    /// Reads every datagram the peers sent (a bounded number per call), then carries out
    /// what consensus asks.
    package func peersReadable() {
        do {
            let now = host.now
            try transport.receive(budget: 4096) { peer, message in consensus.receive(message, from: peer, now: now) }
        } catch {
            logger.error("peer socket: \(error)")
        }
        pump()
    }

    /// One datagram from `source`, handed over by a host without a socket (the simulation):
    /// checked and decoded by the transport as a received one is.
    package func receive(datagram: UnsafeRawBufferPointer, from source: SocketAddress) {
        let now = host.now
        transport.receive(datagram: datagram, from: source) { peer, message in consensus.receive(message, from: peer, now: now) }
    }

    /// A record on a peer's stream to this node (`Verb.peer`) from `source`: its message goes
    /// to consensus as a datagram's would. False when the record failed the checks (dropped
    /// and counted; it grants nothing): the sender is told, so it sends that peer's large
    /// messages another way.
    package func receive(record: UnsafeRawBufferPointer, from source: SocketAddress) -> Bool {
        let now = host.now
        return transport.receiveStreamed(record, from: source) { peer, message in
            consensus.receive(message, from: peer, now: now)
        } != nil
    }

    /// `timer` fired (see `NodeTimer`).
    package func timerFired(_ timer: NodeTimer) {
        switch timer {
        case .consensus:
            armedAt = .max
            consensus.tick(now: host.now)
            pump()
        case .peerBacklog:
            backlogArmed = false
            pump()
        case .liveness:
            checkLiveness()
            host.schedule(.liveness, after: livenessInterval)
        case .lazyCommit:
            lazyCommitArmed = false
            if !stopped { nodeLog?.commit() }
        case .pulse:
            pulse()
            pump()
        }
    }

    /// How often the leader looks for silent nodes: a quarter of `-timeout`, at least 0.1 s.
    private var livenessInterval: Int64 { max(100_000_000, settings.memberTimeout / 4) }

    // MARK: Driving consensus

    /// Ends a batch of inputs: forms and sends batches, applies what was decided, answers
    /// through the host, sends datagrams, re-arms the consensus timer.
    package func pump() {
        guard !stopped else { return }
        consensus.flush()
        var outputs: [Output] = []
        swap(&outputs, &spareOutputs)   // a nested pump would start from new buffers
        var effects: [Outbox.Effect] = []
        swap(&effects, &spareEffects)
        do {
            while true {
                consensus.takeOutputs(into: &outputs)
                if outputs.isEmpty { break }
                for output in outputs { try outbox.take(output, log: nodeLog, into: &effects) }
                outputs.removeAll(keepingCapacity: true)
                carryOut(&effects)
                consensus.flush()
            }
            try outbox.seal(decided: consensus.decided, log: nodeLog)
        } catch {
            return fail(error)
        }
        spareOutputs = outputs
        spareEffects = effects
        do {
            try transport.flush()
        } catch {
            logger.error("peer socket: \(error)")
        }
        if transport.hasBacklog && !backlogArmed {
            // Fragments of large messages beyond this flush's datagrams go out next, paced.
            backlogArmed = true
            host.schedule(.peerBacklog, after: 100_000)
        }
        logLeadership()
        noteContact()
        let deadline = inPlace { $0.nextDeadline }
        if deadline < armedAt {
            armedAt = deadline
            host.schedule(.consensus, after: max(1, deadline - host.now))
        }
    }

    private func logLeadership() {
        if inPlace({ $0.candidacy }) != loggedCandidacy {
            loggedCandidacy = consensus.candidacy
            logger.info("standing for election in round \(loggedCandidacy.round) (leader was \(loggedLeader.map { describe($0) } ?? "unknown"))")
        }
        if consensus.leader != loggedLeader, inPlace({ $0.isMember }) {
            loggedLeader = consensus.leader
            if consensus.isLeader {
                logger.info("leading cluster \(settings.clusterName) from rev \(host.store.rev)")
            } else if let leader = consensus.leader {
                logger.info("following leader \(describe(leader))")
            }
        }
    }

    /// Says once when the node loses touch with its cluster's majority (`Consensus.inContact`)
    /// and once when it is back.
    private func noteContact() {
        let contact = inPlace { $0.inContact }
        if !contact, cutOffSince == nil {
            cutOffSince = host.now
            logger.warning("no contact with a majority of cluster \(settings.clusterName): reads here answer from this replica at rev \(host.store.rev) and may be stale; writes wait for a leader")
        } else if contact, let since = cutOffSince {
            cutOffSince = nil
            logger.notice("in contact with the cluster again at rev \(host.store.rev), after \((host.now - since) / 1_000_000) ms without")
        }
    }

    /// Since when the node has been out of touch with its cluster's majority (nil: in touch).
    package private(set) var cutOffSince: Int64?

    /// Reads a computed property of `consensus` in place: read through this class, the
    /// struct would be copied whole first (every table in it retained and released), on the
    /// path every input takes.
    private func inPlace<T>(_ read: (inout Consensus) -> T) -> T { read(&consensus) }

    /// Does what the outbox allows now, in order, and empties `effects`.
    private func carryOut(_ effects: inout [Outbox.Effect]) {
        for effect in effects {
            switch effect {
            case .send(let peer, let message):
                send(message, to: peer)
            case .apply(let instance, let batch, let record):
                apply(instance, batch)
                nodeLog?.noteApplied(record: record, instance: instance)
            case .snapshotNeeded(let peer):
                startCatchUp(from: peer)
            case .abandoned(let tags):
                for tag in tags { host.failProposal(tag, .outcomeUnknown) }
            case .install(let instance):
                precondition(recordedCopy?.instance == instance, "the outbox releases the install that was recorded")
                installStore(recordedCopy!.snapshot)
                recordedCopy = nil
            }
        }
        effects.removeAll(keepingCapacity: true)
    }

    private func send(_ message: Message, to peer: PeerID) {
        do {
            try transport.send(message, to: peer)
        } catch {
            logger.debug("to \(peer): \(error)")
        }
    }

    /// Applies a decided batch (once the outbox allows it).
    private func apply(_ instance: Int64, _ batch: Batch) {
        for proposal in batch where proposal.retiredOrigin == nil {   // a retirement takes no revision
            // Own proposals of an earlier run of this node (before a restart) are nobody's to
            // answer: their tags may name this run's writes.
            let own = proposal.origin == me && proposal.seq >= consensus.firstOwnSeq
            let event = host.applyDecided(proposal.payload, proposal: own ? proposal.tag : nil)
            membership.note(event)
            if event.path.starts(with: Self.nodeDirectory) { nodesChanged = true }
            if Membership.isSlot(event.path) {
                slotsChanged = true
                if event.error == nil && consensus.isLeader { logSlotChange(event, origin: proposal.origin) }
            }
        }
        consensus.applied(instance, members: membership.refresh(host.store.current))
        if nodesChanged {
            nodesChanged = false
            refreshPeers()
        }
        membershipMayHaveChanged()
    }

    /// A change of the member set's slots, said once in the cluster (by the leader), with
    /// the node it came through: a slave's claim, an operator's write, a removal.
    private func logSlotChange(_ event: Event, origin: PeerID) {
        let slot = String(decoding: event.path, as: UTF8.self)
        let through = origin == me ? "this node" : describe(origin)
        switch event.kind {
        case .set where event.body.isEmpty:
            logger.notice("membership: \(slot) is empty at rev \(event.seqn) (written through \(through)); a slave may claim it")
        case .set:
            let node = describe(PeerID(nodeID: event.body), id: String(decoding: event.body, as: UTF8.self))
            logger.notice("membership: \(slot) holds \(node) from rev \(event.seqn) (written through \(through))")
        case .delete:
            logger.notice("membership: \(slot) deleted at rev \(event.seqn) (through \(through))")
        default:
            break
        }
    }

    // MARK: Durability

    /// (`-data` only.) The log reported a sync: what waited for it takes effect — batches
    /// applied (and so answered), messages sent — and a snapshot starts if one is due.
    package func logCompleted() {
        guard let nodeLog, !stopped else { return }
        var effects: [Outbox.Effect] = []
        do {
            outbox.synced(through: try nodeLog.reapCompletions(), into: &effects)
        } catch {
            return fail(error)
        }
        carryOut(&effects)
        writeCopyIfIdle()
        if let bootstrap = bootstrapState { nodeLog.snapshotIfDue(host.store.current, bootstrap: bootstrap) }
        if let failure = nodeLog.newPreparationFailure() {
            logger.warning("log segment preparation stopped: \(failure); new segments are allocated as they start")
        }
        pump()
    }

    /// (`-data` only.) The snapshot worker finished: a written snapshot gets its log record,
    /// a written copy of a member's state is recorded and installed (see `NodeLog`).
    package func snapshotJobDone() {
        guard let nodeLog, !stopped else { return }
        do {
            let installing = nodeLog.isInstalling
            if let record = try nodeLog.snapshotJobDone(durable: consensus.durableState) {
                try copyWritten(record)
            } else if installing && !nodeLog.isInstalling {
                writingCopy = nil   // its file could not be written (the log said why)
            }
        } catch {
            fail(error)
        }
        writeCopyIfIdle()
    }

    /// (`-data` only.) Ends a loop iteration: starts the sync of what was appended when
    /// something waits for it (a held message, batch or installed state), else within
    /// `lazyCommitDelay` — records nobody waits for (a follower's decided batches, durable at
    /// a quorum already; a promise no reply depends on) ride along with the next sync.
    package func commitLog() {
        guard let nodeLog, !stopped else { return }
        if outbox.waitsForSync {
            nodeLog.commit()
        } else if nodeLog.hasUncommitted && !lazyCommitArmed {
            lazyCommitArmed = true
            host.schedule(.lazyCommit, after: Self.lazyCommitDelay)
        }
    }

    /// How long records nothing waits for may stay unsynced.
    static let lazyCommitDelay: Int64 = 5_000_000

    private func fail(_ error: LogError) {
        guard !stopped else { return }
        stopped = true
        host.storageFailed(error)
    }

    // MARK: Catching up

    /// This node fell behind what `peer` keeps of the decided log: copy `peer`'s state (the
    /// joiner's transfer, by the host in the background, so the node keeps serving reads),
    /// then install it. One copy at a time.
    private func startCatchUp(from peer: PeerID) {
        guard !copying, copyToWrite == nil, writingCopy == nil, recordedCopy == nil,
              let address = addresses[peer] else { return }
        logger.notice("fell behind what \(address) keeps of the decided log; copying its state")
        copying = true
        host.copyState(from: address)
    }

    /// The host's copy of a peer's state ended (`NodeHost.copyState`).
    package func stateCopied(_ result: Result<(Snapshot, Bootstrap), any Error>) {
        copying = false
        guard !stopped else { return }
        switch result {
        case .failure(let error):
            logger.error("catching up failed: \(error); trying again when next asked")
        case .success(let (snapshot, bootstrap)):
            guard snapshot.rev > host.store.rev, bootstrap.instance > consensus.decided else {
                logger.info("caught up through the log meanwhile (rev \(host.store.rev)); the copy at rev \(snapshot.rev) is not needed")
                return
            }
            guard nodeLog != nil else {
                consensus.install(bootstrap)
                installStore(snapshot)
                return pump()
            }
            // Durable: the copy becomes a snapshot file first (`copyWritten`), once the
            // snapshot cycle in progress, if any, is over.
            copyToWrite = (snapshot, bootstrap)
            writeCopyIfIdle()
        }
    }

    /// (`-data` only.) Starts writing the copied state's file unless a snapshot cycle runs (it
    /// is tried again when the cycle moves on).
    private func writeCopyIfIdle() {
        guard let nodeLog, let (snapshot, bootstrap) = copyToWrite, !nodeLog.snapshotInProgress else { return }
        copyToWrite = nil
        do {
            if try nodeLog.startInstall(snapshot, bootstrap) { writingCopy = (snapshot, bootstrap) }
        } catch {
            logger.error("cannot write the state copied at rev \(snapshot.rev): \(error); catching up again when next asked")
        }
    }

    /// (`-data` only.) The file of the state copied from a member is written: its record goes
    /// to the log and consensus continues from it at once; the store is replaced once the
    /// record is durable (`Outbox.install`), and nothing that depends on it happens before.
    private func copyWritten(_ record: NodeLog.SnapshotRecord) throws(LogError) {
        guard let (snapshot, bootstrap) = writingCopy, let nodeLog else { return }
        writingCopy = nil
        guard bootstrap.instance > consensus.decided else {
            logger.info("caught up through the log meanwhile (rev \(host.store.rev)); the copy at rev \(snapshot.rev) is not needed")
            return
        }
        // Batches decided here and still waiting for this node's sync are in the copy: applied
        // first, their writes are answered with their real outcome.
        var effects: [Outbox.Effect] = []
        outbox.release(through: bootstrap.instance, into: &effects)
        carryOut(&effects)
        let index = try nodeLog.recordInstall(record, durable: consensus.durableState)
        consensus.install(bootstrap)
        recordedCopy = (snapshot, bootstrap.instance)
        outbox.install(through: bootstrap.instance, record: index)
        pump()
    }

    private func installStore(_ snapshot: Snapshot) {
        // The batches applied just before may have brought the store to the copy's revision.
        if snapshot.rev > host.store.rev { host.install(snapshot) }
        membership = Membership(host.store.current)
        refreshPeers()
        slotsChanged = true
        membershipMayHaveChanged()
    }

    // MARK: Membership

    private static let nodeDirectory = Array("/ctl/node/".utf8)

    /// Rebuilds the transport's address table from `/ctl/node/<id>/addr`: members and slaves.
    /// An origin de-duplication still keeps a watermark for whose node is no longer there will
    /// propose nothing more: its retirement is due (`Consensus.retire`).
    private func refreshPeers() {
        var table: [PeerID: SocketAddress] = [:]
        var named: [PeerID: String] = [:]
        host.store.current.forEachFile(under: "/ctl/node") { path, body, _ in
            guard let id = Self.nodeID(ofAddr: path) else { return }
            named[PeerID(nodeID: id)] = String(decoding: id, as: UTF8.self)
            if let address = try? SocketAddress.resolve(String(decoding: body, as: UTF8.self)) {
                table[PeerID(nodeID: id)] = address
            }
        }
        transport.setPeers(table)
        consensus.keep(peers: Set(table.keys))
        for origin in inPlace({ $0.watermarkOrigins }).subtracting(table.keys) { consensus.retire(origin) }
        host.peersChanged(table)
        addresses = table
        names = named
    }

    private static let addrLeaf = Array("/addr".utf8)

    /// A peer as logs name it: its node id (`id` when `/ctl/node` does not say it) and
    /// address; `peer:<hash>` only for one known by neither.
    private func describe(_ peer: PeerID, id: String? = nil) -> String {
        guard let name = names[peer] ?? id else { return "\(peer)" }
        return addresses[peer].map { "\(name) (\($0))" } ?? name
    }

    /// The node id of a `/ctl/node/<id>/addr` path.
    private static func nodeID(ofAddr path: [UInt8]) -> ArraySlice<UInt8>? {
        guard path.count > nodeDirectory.count + addrLeaf.count, path.ends(with: addrLeaf) else { return nil }
        let id = path[nodeDirectory.count..<(path.count - addrLeaf.count)]
        return id.contains(UInt8(ascii: "/")) ? nil : id
    }

    /// After each applied instance: a node that just became a member says so; one that just
    /// stopped being one (removed, B11) answers writes READONLY from now on; a slave claims
    /// an empty slot.
    private func membershipMayHaveChanged() {
        let member = inPlace { $0.isMember }
        if member != wasMember {
            wasMember = member
            if member {
                logger.info("now a member of cluster \(settings.clusterName) at rev \(host.store.rev)")
                proposeWritable()
            } else {
                logger.warning("no longer a member of cluster \(settings.clusterName) at rev \(host.store.rev): answering writes READONLY")
            }
            host.membershipChanged(isMember: member)
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
        let snapshot = host.store.current
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
        host.propose(Mutation.set(empty.path, rev: empty.rev, body: settings.id), bookkeeping: "slot claim")
    }

    // MARK: Liveness

    /// The leader's failure detector (§4.12, on a timer, B25): a member or slave not heard
    /// from for `-timeout` has its slot emptied and its `/ctl/node` entry deleted (B15), each
    /// write conditional on what it replaces. Other nodes only watch.
    private func checkLiveness() {
        guard consensus.isLeader else {
            watchedSince.removeAll()
            removalProposed.removeAll()
            return
        }
        let now = host.now
        let timeout = settings.memberTimeout
        let snapshot = host.store.current
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
                host.propose(Mutation.set(path, rev: rev, body: []), bookkeeping: "member removal")
            }
        }
        snapshot.forEachFile(under: "/ctl/node/\(name)") { path, _, rev in
            host.propose(Mutation.delete(path, rev: rev), bookkeeping: "node removal")
        }
        host.removedNode(name)
    }

    /// A member says this node is not part of the cluster any more (it was removed while
    /// away). With that word from a quorum of the members it knows — or from two of them, for
    /// a slave — it leaves with one clear line rather than linger (B11).
    private func noticed(by peer: PeerID) {
        let members = consensus.members(at: consensus.decided + 1)
        guard members.contains(peer) else { return }
        let now = host.now
        notices[peer] = now
        notices = notices.filter { now - $0.value < 5_000_000_000 }
        // A slave hears from few members, and one that has not applied the slave's address yet
        // would also say so: two of them (or the only one) are needed.
        let needed = consensus.isMember ? Consensus.quorum(members.count) : min(2, members.count)
        guard notices.count >= needed else { return }
        host.leave("this node was removed from cluster \(settings.clusterName) while it was unreachable; exiting (restart it to join again as a new node)")
    }

    // MARK: Reporting

    /// One line of this node's peer traffic since start, as `key=value` pairs (doozer-bench
    /// reads it from the log at shutdown): datagrams and UDP payload bytes each way, the
    /// sendmmsg calls, consensus messages, the last decided instance, datagrams dropped, those
    /// refused by their seal (no seal, a bad MAC, a replay, a seal without a key here), and
    /// those from a node id the address table has at another address (NAT, a wrong `-l`) or
    /// does not have.
    /// The host appends its streams' counters.
    package var trafficSummary: String {
        let channel = transport.channelStats
        let peer = transport.stats
        let dropped = channel.droppedTruncated + channel.droppedMalformed + channel.droppedBackpressure
            + channel.droppedSendErrors + peer.droppedOutboxFull + peer.droppedBacklogFull
        return "peer traffic: datagrams_sent=\(channel.datagramsSent) bytes_sent=\(channel.bytesSent)"
            + " send_calls=\(channel.sendCalls) datagrams_received=\(channel.datagramsReceived)"
            + " bytes_received=\(channel.bytesReceived) messages_sent=\(peer.messagesSent)"
            + " messages_received=\(peer.messagesReceived) decided=\(consensus.decided) dropped=\(dropped)"
            + " fragments_sent=\(peer.fragmentsSent) messages_streamed=\(peer.messagesStreamed)"
            + " records_received=\(peer.recordsReceived) unsealed=\(peer.droppedUnsealed)"
            + " bad_mac=\(peer.droppedBadMAC) replayed=\(peer.droppedReplayed) sealed_without_key=\(peer.droppedSealedWithoutKey)"
            + " wrong_source=\(peer.droppedAddressMismatch) unknown_sender=\(peer.droppedUnknownSender)"
    }
}

extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool {
        count >= suffix.count && self[(count - suffix.count)...].elementsEqual(suffix)
    }
}
