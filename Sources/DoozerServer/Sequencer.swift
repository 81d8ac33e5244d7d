import DoozerWire

/// A node-local name for one proposed write: handed out by `PendingWrites` in increasing
/// order, never reused within a process, and meaningless to other nodes.
typealias ProposalID = UInt64

/// Decides the order in which writes become revisions. `Server.propose` submits each of this
/// node's writes exactly once, under a fresh id; from then on the sequencer owns its fate.
///
/// An implementation must, on the loop thread, exactly once per submitted proposal, either
/// - apply it: `Server.applyDecided(mutation, proposal: id)` at the revision it was decided
///   for, or
/// - fail it: `Server.failProposal(id, error)` when it will never be applied (e.g. this node
///   lost leadership before it was decided);
///
/// and must deliver every decided mutation — its own and other nodes' (`proposal: nil`) — to
/// `applyDecided` exactly once, in revision order, with no gap. It may do so inside `submit`
/// (a cluster of one decides within the iteration) or in any later loop iteration. It never blocks, and
/// never answers clients itself: the server does, from `applyDecided` and `failProposal`.
protocol Sequencer: AnyObject {
    /// Takes `mutation` (§3.4 bytes) to be ordered among every node's writes.
    func submit(_ mutation: [UInt8], proposal: ProposalID)
}

/// Why a proposed write was not applied, as its origin is told: an error code and, for codes
/// that need one, a fixed explanation (sent as `err_detail`).
struct ProposalError: Error {
    let code: ErrorCode
    let detail: StaticString?

    /// The pending-write table is full: `PendingWrites.capacity` writes are in flight.
    static let tooManyInFlight = ProposalError(code: .other, detail: "too many writes in flight")
}
