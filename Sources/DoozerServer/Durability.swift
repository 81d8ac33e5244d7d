import DoozerConsensus
import DoozerLog
import DoozerStore

/// The durable node's side of the write path (`-data`): a decided batch reaches the store once
/// it is durable at a quorum — at once when other members' votes make it so, else after this
/// node's own sync (`logCompleted`); a storage failure stops the node.
extension Server {
    /// The log's eventfd fired: applies (and so answers) every held batch that sync made
    /// durable enough, in order, and sends the messages that waited for it.
    func logCompleted() {
        guard let nodeLog, storageFailure == nil else { return }
        do {
            for held in try nodeLog.takeDurable() where held.instance > cluster.consensus.applied {
                cluster.apply(held.instance, held.batch)   // (a snapshot installed meanwhile holds the others)
            }
        } catch {
            return storageFailed(error)
        }
        nodeLog.snapshotIfDue(store.current, bootstrap: cluster.bootstrapState)
        cluster.releaseMessages(durableThrough: nodeLog.durableIndex)
        if let failure = nodeLog.newPreparationFailure() {
            logger.warning("log segment preparation stopped: \(failure); new segments are allocated as they start")
        }
        cluster.pump()
    }

    /// The snapshot worker finished: a written snapshot gets its log record (see `NodeLog`).
    func snapshotJobDone() {
        guard let nodeLog, storageFailure == nil else { return }
        do {
            let installing = nodeLog.isInstalling
            if let install = try nodeLog.snapshotJobDone(durable: cluster.consensus.durableState) {
                try cluster.installWritten(install)
            } else if installing && !nodeLog.isInstalling {
                cluster.installFailed()
            }
        } catch {
            storageFailed(error)
        }
    }

    /// Ends a loop iteration of a durable node: starts the sync of what it appended when
    /// something waits for it (a held message or decided batch), else within
    /// `lazyCommitDelay` — records nobody waits for (a follower's decided batches, durable at a
    /// quorum already; a promise no reply depends on) ride along with the next sync.
    func commitLog() {
        guard let nodeLog else { return }
        if cluster.waitsForSync || nodeLog.waitsForSync {
            nodeLog.commit()
        } else if nodeLog.hasUncommitted && !lazyCommitArmed {
            lazyCommitArmed = true
            loop.schedule(after: Server.lazyCommitDelay, timer: Timer.lazyCommit)
        }
    }

    /// How long records nothing waits for may stay unsynced.
    static let lazyCommitDelay: Int64 = 5_000_000

    /// A write to the log failed: nothing after the store's revision is applied or
    /// acknowledged any more; the loop stops and `run` throws the failure (doozerd logs it
    /// as one line and exits with status 1).
    func storageFailed(_ error: LogError) {
        guard storageFailure == nil else { return }
        storageFailure = StorageStopped(error: error, rev: store.rev)
        isWritable = false
        loop.stop()
    }

    /// A restarted durable node: its store was recovered from the data directory (a snapshot
    /// and the log after it) and consensus replayed with it and its durable state restored.
    /// A member stands for election at once; a slave follows a member.
    func resume() {
        logger.info("resuming as \(id) at rev \(store.rev) from the data directory")
        cluster.resume()
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

/// Rebuilds a durable node's consensus while `NodeLog` recovers its store: from the base
/// snapshot's bootstrap (or, with none, the seed's), replaying each decided instance after it
/// in order, then restoring the durable state the log recorded. Used only before the node
/// serves; holds nothing once `finish` returned.
final class NodeRestorer {
    private let options: ConsensusOptions
    private let now: Int64
    private let seed: UInt64
    private var consensus: Consensus?
    private var membership: Membership?
    private var store: Store?

    init(options: ConsensusOptions, now: Int64, seed: UInt64) {
        self.options = options
        self.now = now
        self.seed = seed
    }

    func replay(_ step: NodeLog.Replayed) {
        switch step {
        case .base(let record, let store, let identity):
            let me = PeerID(nodeID: identity.id.bytes)
            consensus = Consensus(me: me, options: options, bootstrap: record?.bootstrap ?? .seed(me), now: now, seed: seed)
            if record?.bootstrap != nil { membership = Membership(store.current) }
            self.store = store
        case .decided(let entry, _) where entry.instance == 0:
            // The layout: applied before consensus starts, as a new seed does.
            membership = Membership(store!.current)
        case .decided(let entry, let events):
            for event in events { membership!.note(event) }
            consensus!.replay(entry.instance, entry.batch)
            consensus!.applied(entry.instance, members: membership!.refresh(store!.current))
        }
    }

    /// The node's consensus as its data directory left it.
    func finish(_ durable: DurableState) -> Consensus? {
        guard var consensus else { return nil }
        consensus.restore(durable)
        _ = consensus.takeOutputs()
        return consensus
    }
}
