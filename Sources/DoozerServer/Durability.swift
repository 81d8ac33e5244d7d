import DoozerConsensus
import DoozerLog
import DoozerStore

/// The durable node's side of the write path (`-data`): decided batches reach the store only
/// through `logCompleted`, after their fdatasync; a storage failure stops the node.
extension Server {
    /// The log's eventfd fired: applies (and so answers) every batch now durable, in order.
    func logCompleted() {
        guard let nodeLog, storageFailure == nil else { return }
        do {
            for held in try nodeLog.takeDurable() where held.instance > cluster.consensus.applied {
                cluster.apply(held.instance, held.batch)   // (a snapshot installed meanwhile holds the others)
            }
        } catch {
            return storageFailed(error)
        }
        cluster.releaseMessages(durableThrough: nodeLog.durableIndex)
        cluster.pump()
    }

    /// A write to the log failed: nothing after the store's revision is applied or
    /// acknowledged any more; the loop stops and `run` throws the failure (doozerd logs it
    /// as one line and exits with status 1).
    func storageFailed(_ error: LogError) {
        guard storageFailure == nil else { return }
        storageFailure = StorageStopped(error: error, rev: store.rev)
        isWritable = false
        loop.stop()
    }

    /// A restarted durable node: its store was replayed from the log and consensus starts
    /// after the last logged instance; it leads its cluster of one again.
    func resumeSeed() {
        logger.info("resuming as \(id) at rev \(store.rev) from the data directory")
        cluster.startSeed()
        isWritable = cluster.consensus.isMember
        pulse()
        cluster.pump()
    }
}

/// The log failed on its write path: the node stopped at `rev`, the last revision it applied
/// and acknowledged; nothing decided after it was acknowledged to anyone.
struct StorageStopped: Error, CustomStringConvertible {
    let error: LogError
    let rev: Int64

    var description: String {
        "\(error); stopped at rev \(rev): no later write was acknowledged (see the data directory's disk)"
    }
}

/// Rebuilds a durable node from its log at start-up, record by record: the store, by applying
/// each decided batch in order, and consensus, by replaying each instance from the seed's
/// bootstrap and then restoring the durable state the log recorded. Used only before the
/// node serves; holds nothing once `finish` returned.
final class NodeRestorer {
    let store: Store
    private let options: ConsensusOptions
    private let now: Int64
    private let seed: UInt64
    private var consensus: Consensus?
    private var membership: Membership?
    private var durable = DurableState()

    init(store: Store, options: ConsensusOptions, now: Int64, seed: UInt64) {
        self.store = store
        self.options = options
        self.now = now
        self.seed = seed
    }

    /// One record, in log order (the node log checks that the identity comes first and that
    /// instances follow one another from the layout, instance 0, on).
    func replay(_ record: NodeLog.Replayed) {
        switch record {
        case .identity(let identity):
            let me = PeerID(nodeID: identity.id.bytes)
            consensus = Consensus(me: me, options: options, bootstrap: .seed(me), now: now, seed: seed)
        case .decided(let entry) where entry.instance == 0:
            for proposal in entry.batch { _ = store.apply(proposal.payload) }
            membership = Membership(store.current)
        case .decided(let entry):
            for proposal in entry.batch { membership!.note(store.apply(proposal.payload).event) }
            consensus!.replay(entry.instance, entry.batch)
            consensus!.applied(through: entry.instance, members: membership!.refresh(store.current))
            durable.decided(through: entry.instance)
        case .change(let change):
            durable.note(change)
        }
    }

    /// The node's consensus as the log left it, or nil when the log held no layout (a node
    /// that never finished starting: it seeds anew).
    func finish() -> Consensus? {
        guard membership != nil, var consensus else { return nil }
        consensus.restore(durable)
        _ = consensus.takeOutputs()
        return consensus
    }
}
