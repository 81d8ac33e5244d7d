import DoozerConsensus
import DoozerLog
import DoozerStore
import DoozerSystem

/// What a node's `ClusterSequencer` needs from the process it runs in: the server on its event
/// loop, or the simulation with its simulated clock, network and disk. Everything the
/// sequencer does outside consensus, the transport and the log goes through here, so the
/// coupling between the node core and its host is this list.
///
/// Called on the host's thread only; no method may call back into the sequencer before it
/// returns, except where it says so.
package protocol NodeHost: AnyObject {
    /// Monotonic nanoseconds.
    var now: Int64 { get }
    /// The store decided mutations are applied to; the sequencer only reads it.
    var store: Store { get }
    /// Fires `timer` once, `delay` nanoseconds from now: the host then calls the sequencer's
    /// handler for it (`ClusterSequencer.timerFired(_:)`).
    func schedule(_ timer: NodeTimer, after delay: Int64)
    /// Applies a decided mutation at the next revision, whoever proposed it, and answers its
    /// origin when `proposal` names a write of this node's still waiting.
    func applyDecided(_ mutation: [UInt8], proposal: ProposalID?) -> Event
    /// `proposal` will not be applied, or its outcome can no longer be known.
    func failProposal(_ proposal: ProposalID, _ failure: ProposalFailure)
    /// Proposes one of the node's own bookkeeping writes (`what` names it in the log): the
    /// host registers it and submits it back to the sequencer.
    func propose(_ mutation: [UInt8], bookkeeping what: StaticString)
    /// Replaces the store with a member's state at a later revision (this node fell behind
    /// what its peers keep); the host answers what can no longer be answered from history.
    func install(_ snapshot: Snapshot)
    /// The node became a member (it takes writes from now on; the sequencer proposes
    /// `writable` itself) or stopped being one.
    func membershipChanged(isMember: Bool)
    /// Starts copying the state of the node at `address` in the background; the host hands
    /// the outcome to `ClusterSequencer.stateCopied(_:)` later (never inside this call).
    func copyState(from address: SocketAddress)
    /// The peers' addresses changed (`/ctl/node/<id>/addr`): the whole table now.
    func peersChanged(_ table: [PeerID: SocketAddress])
    /// The leader proposed the removal of the silent node `id` (B14: a DzNS forgets it too).
    func removedNode(_ id: String)
    /// The node's log failed: nothing more may be applied or acknowledged; the host stops.
    func storageFailed(_ error: LogError)
    /// The cluster removed this node while it was away (B11): the host stops, with `reason`.
    func leave(_ reason: String)
}

/// The sequencer's timers: each fires the handler of the same name once per `schedule`.
package enum NodeTimer: Equatable, Sendable {
    /// Consensus's next deadline (elections, heartbeats, retransmissions, fetches).
    case consensus
    /// The fragments of large messages beyond the last flush go out.
    case peerBacklog
    /// The leader looks for silent nodes.
    case liveness
    /// (`-data` only.) Records nothing waits for are synced at the latest now.
    case lazyCommit
    /// The node writes `/ctl/node/<id>/applied` (§4.13).
    case pulse
}

/// What a sequencer is started with besides its consensus and transport.
package struct NodeSettings: Sendable {
    /// The node's id as the store records it (`/ctl/node/<id>`, `/ctl/cal` bodies).
    package var id: [UInt8]
    package var clusterName: String
    /// Largest write proposed (`-maxwrite`); a larger one fails as `.tooLarge` (B3).
    package var maxWrite: Int
    /// Silence after which the leader removes a node (`-timeout`), in nanoseconds.
    package var memberTimeout: Int64
    /// Interval between `applied` writes (`-pulse`), in nanoseconds.
    package var pulseInterval: Int64

    package init(id: [UInt8], clusterName: String, maxWrite: Int, memberTimeout: Int64, pulseInterval: Int64) {
        self.id = id
        self.clusterName = clusterName
        self.maxWrite = maxWrite
        self.memberTimeout = memberTimeout
        self.pulseInterval = pulseInterval
    }
}
