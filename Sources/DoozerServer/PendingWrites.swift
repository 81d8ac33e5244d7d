import DoozerNode
import DoozerWire

/// Who is told how a proposed write ended, and what the answer needs.
enum WriteOrigin {
    /// A client's SET, DEL or NOP (`verb`) on the connection `session`: answered with `tag`,
    /// plus the new revision for a SET, or the mutation's error.
    case client(session: UInt64, tag: Int32?, verb: Verb)
    /// A write of the node's own (pulse, `writable`, member clean-up): nobody is answered; a
    /// failure is logged under this name.
    case node(StaticString)
}

/// The writes this node has proposed whose fate is not known yet: the origin to answer, by
/// proposal id, until the sequencer applies or fails each one. It stores origins only and
/// never answers, submits or applies anything.
///
/// Bound: at most `capacity` ids from the oldest still pending to the newest. A sequencer
/// decides roughly in submission order, so that is the number of writes in flight; past it,
/// `insert` refuses instead of queueing. The ring of entries grows by doubling up to that
/// bound and never shrinks; at steady state inserting and removing allocate nothing.
struct PendingWrites {
    /// The most ids in flight at once.
    static let capacity = 65_536

    /// The entry of id `i` is at `i & (entries.count - 1)`; nil once settled or forgotten.
    /// `entries.count` is a power of two, at most `capacity`.
    private var entries: [WriteOrigin?]
    /// Every id below this one is settled (or forgotten).
    private var oldest: ProposalID = 1
    /// The id the next `insert` hands out.
    private var next: ProposalID = 1
    /// Origins still waiting for an answer.
    private(set) var count = 0

    init(initialCapacity: Int = 64) {
        precondition(initialCapacity > 0 && initialCapacity & (initialCapacity - 1) == 0
                     && initialCapacity <= Self.capacity, "initial capacity must be a power of two ≤ capacity")
        entries = Array(repeating: nil, count: initialCapacity)
    }

    /// Remembers `origin` under a new id; nil when `capacity` ids are in flight.
    mutating func insert(_ origin: WriteOrigin) -> ProposalID? {
        if next - oldest == UInt64(entries.count) {
            guard entries.count < Self.capacity else { return nil }
            grow()
        }
        let id = next
        entries[slot(id)] = origin
        next += 1
        count += 1
        return id
    }

    /// Takes the origin of `id` out of the table; nil if `id` is settled or was forgotten.
    mutating func remove(_ id: ProposalID) -> WriteOrigin? {
        let index = slot(id)
        guard id >= oldest, id < next, let origin = entries[index] else { return nil }
        entries[index] = nil
        count -= 1
        if id == oldest { advanceOldest() }
        return origin
    }

    /// The origin of a pending write, without settling it.
    func origin(_ id: ProposalID) -> WriteOrigin? {
        guard id >= oldest && id < next else { return nil }
        return entries[slot(id)]
    }

    /// Forgets every pending write of the connection `session` (it closed): its writes
    /// still apply, but answer nobody. O(ids in flight).
    mutating func forget(session token: UInt64) {
        var id = oldest
        while id < next {
            if case .client(let session, _, _) = entries[slot(id)], session == token {
                entries[slot(id)] = nil
                count -= 1
            }
            id += 1
        }
        advanceOldest()
    }

    @inline(__always)
    private func slot(_ id: ProposalID) -> Int {
        Int(truncatingIfNeeded: id) & (entries.count - 1)
    }

    private mutating func advanceOldest() {
        while oldest < next, entries[slot(oldest)] == nil { oldest += 1 }
    }

    /// Doubles the ring, moving each id in flight to its slot in the larger one.
    private mutating func grow() {
        var larger = [WriteOrigin?](repeating: nil, count: entries.count * 2)
        let mask = larger.count - 1
        for id in oldest..<next {
            larger[Int(truncatingIfNeeded: id) & mask] = entries[slot(id)]
        }
        entries = larger
    }
}
