/// A node-local name for one proposed write: handed out by the host in increasing order,
/// never reused within a process, and meaningless to other nodes.
package typealias ProposalID = UInt64

/// Decides the order in which writes become revisions. The host submits each of this node's
/// writes exactly once, under a fresh id; from then on the sequencer owns its fate.
///
/// An implementation must, on the host's thread, exactly once per submitted proposal, either
/// - apply it: `NodeHost.applyDecided(mutation, proposal: id)` at the revision it was decided
///   for, or
/// - fail it: `NodeHost.failProposal(id, failure)` when it will not be applied, or when its
///   outcome can no longer be known (`ProposalFailure.outcomeUnknown`);
///
/// and must deliver every decided mutation — its own and other nodes' (`proposal: nil`) — to
/// `applyDecided` exactly once, in revision order, with no gap. It may do so inside `submit`
/// (a cluster of one decides within the iteration) or in any later loop iteration. It never
/// blocks, and never answers clients itself: the host does, from those two calls.
package protocol Sequencer: AnyObject {
    /// Takes `mutation` (§3.4 bytes) to be ordered among every node's writes; `bookkeeping`
    /// for the node's own writes (a slave's slot claim and pulse are forwarded like a
    /// member's), false for a client's (which need a member).
    func submit(_ mutation: [UInt8], proposal: ProposalID, bookkeeping: Bool)
}

/// Why a proposed write was not applied, or why its outcome is not known.
package enum ProposalFailure: Error, Equatable, Sendable {
    /// The node is not a member (a slave, or removed): it takes no writes. Nothing happened.
    case readonly
    /// Consensus holds as many of this node's proposals as it may. Nothing happened.
    case overloaded
    /// Larger than `-maxwrite` (B3): refused before it was proposed. Nothing happened.
    case tooLarge
    /// The node lost track of the write — it stopped being a member, or jumped ahead to a
    /// snapshot, with the write in flight — and cannot tell whether it was applied. A host
    /// must never answer this as a definite error.
    case outcomeUnknown
}
