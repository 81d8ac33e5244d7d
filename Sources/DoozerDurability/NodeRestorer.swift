import DoozerConsensus
import DoozerStore

/// Rebuilds a durable node's consensus while `NodeLog` recovers its store: from the base
/// snapshot's bootstrap (or, with none, the seed's), replaying each decided instance after it
/// in order, then restoring the durable state the log recorded. Used only before the node
/// serves; holds nothing once `finish` returned.
package final class NodeRestorer {
    private let options: ConsensusOptions
    private let now: Int64
    private let seed: UInt64
    private var consensus: Consensus?
    private var membership: Membership?
    private var store: Store?

    package init(options: ConsensusOptions, now: Int64, seed: UInt64) {
        self.options = options
        self.now = now
        self.seed = seed
    }

    package func replay(_ step: NodeLog.Replayed) {
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
    package func finish(_ durable: DurableState) -> Consensus? {
        guard var consensus else { return nil }
        consensus.restore(durable)
        _ = consensus.takeOutputs()
        return consensus
    }
}
