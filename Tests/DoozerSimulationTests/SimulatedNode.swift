import DoozerConsensus
import DoozerDurability
import DoozerLog
import DoozerNode
import DoozerPeer
import DoozerStore
import DoozerSystem
import Logging

/// One doozerd process in the simulation: the production `ClusterSequencer` — consensus, its
/// outbox, the peer transport's codec, fragmentation and authentication on simulated
/// datagrams, and (durable runs) the `NodeLog` on a `SimulatedDisk` — hosted here instead of
/// by the server. What the server does around the sequencer (the store, answering writes,
/// timers, the catch-up copy) is done here for the simulation's clients, which read the store
/// directly and write through `submit`.
///
/// A run of the process ends with a crash (`stop`); a durable node starts again from its disk
/// (`Simulation.restart`) as a new `SimulatedNode` on the same `disk`.
final class SimulatedNode: NodeHost {
    let index: Int
    let name: [UInt8]
    let peer: PeerID
    let address: SocketAddress
    /// Which run of this node's process this is: events for an earlier run are ignored.
    let incarnation: Int
    unowned let world: Simulation
    let store: Store
    private(set) var sequencer: ClusterSequencer!
    let disk: SimulatedDisk?
    var alive = true
    var pausedUntil: Int64?
    /// Events that arrived while paused, handled on resume (bounded, as a socket buffer is).
    var inbox: [() -> Void] = []
    /// A gray failure: every event this node handles keeps it busy this long (0: healthy).
    var slowness: Int64 = 0
    var busyUntil: Int64 = 0
    /// This node's clock runs at `clockRate` of simulated time, `clockOffset` apart.
    let clockRate: Double
    let clockOffset: Int64
    private var syncScheduled = false
    private var jobScheduled = false
    /// The node's own proposals not settled yet: the client operation (nil: bookkeeping).
    private var proposals: [ProposalID: ((Outcome) -> Void)?] = [:]
    private var nextProposal: ProposalID = 1
    /// Reads of revisions not applied yet, by revision.
    private var parked: [Int64: [(Snapshot?) -> Void]] = [:]
    /// Whether the node takes writes now (a member).
    private(set) var isWritable = false
    /// How often this run of the process stopped being a member: its own proposals in flight
    /// then end with their outcome unknown (the sequencer abandons them).
    private(set) var removals = 0

    /// How a proposed write ended, as its client sees it.
    enum Outcome {
        case applied(Event)
        case refused(ProposalFailure)
        /// The connection closes: the outcome is unknown.
        case lost
    }

    init(index: Int, name: [UInt8], incarnation: Int, world: Simulation, store: Store, disk: SimulatedDisk?,
         clockRate: Double, clockOffset: Int64) {
        self.index = index
        self.name = name
        peer = PeerID(nodeID: name)
        address = Simulation.address(of: index)
        self.incarnation = incarnation
        self.world = world
        self.store = store
        self.disk = disk
        self.clockRate = clockRate
        self.clockOffset = clockOffset
    }

    /// Builds the sequencer around `consensus` (and `nodeLog`, durable).
    func attach(consensus: Consensus, nodeLog: NodeLog?) {
        var limits = PeerTransport.Limits()
        limits.maxDatagram = world.parameters.maxDatagram   // small: large messages fragment often
        let transport = PeerTransport.simulated(address: address, cluster: Simulation.clusterName, id: peer, limits: limits,
                                                clock: { [unowned self] in now },
                                                firstMessageID: UInt32(truncatingIfNeeded: incarnation &* 7919),
                                                keys: world.parameters.peerKey ? Simulation.peerKeys() : nil,
                                                // Above every counter an earlier incarnation used: fewer than one datagram a nanosecond.
                                                firstCounter: UInt64(world.now) &+ 1) {
            [unowned self] destination, datagram in
            world.send(Array(datagram), from: self, to: destination)
        }
        let settings = NodeSettings(id: name, clusterName: Simulation.clusterName, maxWrite: 4 << 20,
                                    memberTimeout: world.parameters.memberTimeout, pulseInterval: world.parameters.pulseInterval)
        sequencer = ClusterSequencer(host: self, settings: settings, consensus: consensus, transport: transport,
                                     nodeLog: nodeLog, logger: world.logger(for: index))
        isWritable = sequencer.consensus.isMember
    }

    // MARK: NodeHost

    var now: Int64 { clockOffset + Int64(Double(world.now) * clockRate) }

    func schedule(_ timer: NodeTimer, after delay: Int64) {
        world.schedule(after: Int64(Double(delay) / clockRate), on: self) { node in node.sequencer.timerFired(timer) }
    }

    func applyDecided(_ mutation: [UInt8], proposal: ProposalID?) -> Event {
        let applied = store.apply(mutation)
        world.applied(mutation, at: applied.event.seqn, on: self)
        for read in parked.removeValue(forKey: store.rev) ?? [] { read(store.current) }
        if let proposal, let settle = proposals.removeValue(forKey: proposal) { settle?(.applied(applied.event)) }
        return applied.event
    }

    func failProposal(_ proposal: ProposalID, _ failure: ProposalFailure) {
        guard let settle = proposals.removeValue(forKey: proposal) else { return }
        settle?(failure == .outcomeUnknown ? .lost : .refused(failure))
    }

    func propose(_ mutation: [UInt8], bookkeeping what: StaticString) {
        submit(mutation, bookkeeping: true, settle: nil)
    }

    func install(_ snapshot: Snapshot) {
        _ = store.install(snapshot)   // (the simulation's clients hold no WAITs)
        for rev in parked.keys.sorted() where rev <= snapshot.rev {
            for read in parked.removeValue(forKey: rev)! { read(rev == snapshot.rev ? snapshot : nil) }
        }
    }

    func membershipChanged(isMember: Bool) {
        if isWritable && !isMember { removals += 1 }
        isWritable = isMember
    }

    func copyState(from address: SocketAddress) {
        world.copyState(from: address, to: self)
    }

    func peersChanged(_ table: [PeerID: SocketAddress]) {}

    func removedNode(_ id: String) {}

    func storageFailed(_ error: LogError) {
        world.note("node \(index): storage failed: \(error); the process stops")
        world.processExited(self, restart: true)
    }

    func leave(_ reason: String) {
        world.note("node \(index): \(reason)")
        world.processExited(self, restart: false)
    }

    // MARK: The server's side

    /// A write from a client (`settle` nil: the node's own), as the server proposes it.
    func submit(_ mutation: [UInt8], bookkeeping: Bool, settle: ((Outcome) -> Void)?) {
        let id = nextProposal
        nextProposal += 1
        proposals[id] = settle
        sequencer.submit(mutation, proposal: id, bookkeeping: bookkeeping)
    }

    /// A read of revision `rev` (the current one when nil): answered now, or once the node
    /// applied `rev`; nil when `rev` left the history (TOO_LATE).
    func read(at rev: Int64?, _ answer: @escaping (Snapshot?) -> Void) {
        guard let rev, rev > store.rev else {
            guard let rev else { return answer(store.current) }
            if case .snapshot(let snapshot) = store.snapshot(at: max(1, rev)) { return answer(snapshot) }
            return answer(nil)
        }
        parked[rev, default: []].append(answer)
    }

    /// What to do, per client operation in flight here, when the process dies: its connection
    /// closes (the simulation's clients register it; in operation order).
    var onStop: [Int: () -> Void] = [:]

    /// The process dies: every client connection closes (their writes' outcome unknown).
    func stop() {
        alive = false
        let settles = proposals.keys.sorted().map { proposals[$0]! }
        proposals = [:]
        parked = [:]
        inbox = []
        for settle in settles { settle?(.lost) }
        let closes = onStop.keys.sorted().map { onStop[$0]! }
        onStop = [:]
        for close in closes { close() }
    }

    /// Ends one loop iteration, as the server's does: consensus outputs carried out, the log
    /// committed; the disk's sync and the snapshot worker's job are scheduled as events.
    func endIteration() {
        guard alive else { return }
        sequencer.pump()
        sequencer.commitLog()
        guard let nodeLog = sequencer.nodeLog else { return }
        if nodeLog.hasCommittedBatch && !syncScheduled {
            syncScheduled = true
            world.schedule(after: world.syncDelay(), on: self) { node in
                node.syncScheduled = false
                node.sequencer.nodeLog!.syncCommitted()
                node.sequencer.logCompleted()
            }
        }
        if nodeLog.hasSnapshotJob && !jobScheduled {
            jobScheduled = true
            world.schedule(after: world.syncDelay() * 4, on: self) { node in
                node.jobScheduled = false
                node.sequencer.nodeLog!.runSnapshotJob()
                node.sequencer.snapshotJobDone()
            }
        }
    }
}
