/// # Outbox: what of consensus's outputs may take effect now
///
/// Between `Consensus` and its host, for the server and the simulation alike. Consensus hands
/// out, in order, messages to send, decided batches to apply and (`ConsensusOptions.durable`)
/// changes of its durable state to persist. A durable node lives by two rules, kept here and
/// nowhere else:
///
/// 1. **Persist before send.** No message leaves before every durable change output ahead of
///    it is on stable storage: a promise or a vote is never announced, nor anything that
///    depends on it, before a crash could no longer undo it. Messages keep their order.
/// 2. **Durable at a quorum before applied.** A decided batch is applied (and so answered)
///    only once it is durable at a quorum of members: at once when other members' votes make
///    it so (`durableElsewhere`), else once this node's own vote — or its record of the
///    decision — is synced. Batches are applied strictly in decided order.
///
/// Every decided batch is recorded in the log as it is output. A pump's durable changes are
/// written at its end (`seal`), except votes for instances decided in the same pump: the
/// decided record supersedes them (a leader alone writes each batch once). The messages held
/// in a pump wait for the last record it wrote.
///
/// A memory-only node (`durable` false) has no log: every message leaves and every batch is
/// applied at once.
///
/// Bounds: the held messages are what consensus outputs between two syncs; the held batches
/// at most what consensus decides ahead of applying (α); the vote records at most the votes
/// consensus holds (`maxVotes`).
package struct Outbox {
    /// What the host does now, in this order.
    package enum Effect: Equatable, Sendable {
        case send(to: PeerID, Message)
        /// Apply this decided batch, then report `Consensus.applied(_:members:)`. `record` is
        /// the index of its decided record in the log (0 for a memory-only node).
        case apply(instance: Int64, batch: Batch, record: UInt64)
        case snapshotNeeded(from: PeerID)
        case abandoned([UInt64])
        /// The state copied through `instance` (`install`) is durable: replace the store now.
        case install(through: Int64)
    }

    private struct HeldMessage {
        var peer: PeerID
        var message: Message
        /// The log index that must be durable first (`.max`: the last record of the pump
        /// that produced it, set by `seal`).
        var after: UInt64
    }

    /// A decided batch, or (`batch` nil) an installed state, waiting for the log.
    private struct HeldBatch {
        var record: UInt64
        var after: UInt64
        var instance: Int64
        var batch: Batch?
    }

    package let durable: Bool
    private var pendingChanges: [DurableChange] = []
    private var messages: [HeldMessage] = []
    private var messagesHead = 0
    private var batches: [HeldBatch] = []
    private var batchesHead = 0
    /// Every message output from now on waits for this log index.
    private var barrier: UInt64 = 0
    /// The log index of each vote written, by instance, until the instance is decided.
    private var voteRecords: [Int64: UInt64] = [:]

    package init(durable: Bool) {
        self.durable = durable
    }

    /// Whether something waits for the log's next sync (a host starts it at once rather than
    /// lazily).
    package var waitsForSync: Bool { messagesHead < messages.count || batchesHead < batches.count }

    /// Takes one of consensus's outputs, in output order; appends what may happen now to
    /// `effects`. A decided batch of a durable node is recorded in `log` here.
    package mutating func take<Log: OutboxLog>(_ output: Output, log: Log?, into effects: inout [Effect]) throws(Log.Failure) {
        switch output {
        case .send(let peer, let message):
            if let log, durable,
               !pendingChanges.isEmpty || messagesHead < messages.count || barrier > log.durableIndex {
                messages.append(HeldMessage(peer: peer, message: message, after: .max))
            } else {
                effects.append(.send(to: peer, message))
            }
        case .decided(let instance, let batch, let durableElsewhere):
            guard let log, durable else { return effects.append(.apply(instance: instance, batch: batch, record: 0)) }
            let recorded = voteRecords.removeValue(forKey: instance)
            let votePending = pendingChanges.contains { if case .vote(let e) = $0 { e.instance == instance } else { false } }
            let record = try log.append(DecidedEntry(instance: instance, batch: batch))
            // Durable at a quorum of others: at once. Else the quorum counts this node's vote:
            // once that vote's record is synced — or this decided record, when the vote is
            // still to be written in this pump (and so elided) or was never recorded here —
            // and every message after this waits for it too, since it may tell of the decision.
            let after = durableElsewhere ? 0 : votePending ? record : recorded ?? record
            if !durableElsewhere { barrier = max(barrier, record) }
            assert(batchesHead == batches.count || batches[batches.count - 1].instance < instance, "decided in order")
            batches.append(HeldBatch(record: record, after: after, instance: instance, batch: batch))
            releaseBatches(durableThrough: log.durableIndex, into: &effects)
        case .persist(let change):
            precondition(durable, "a memory-only node persists nothing")
            pendingChanges.append(change)
        case .snapshotNeeded(let peer):
            effects.append(.snapshotNeeded(from: peer))
        case .abandoned(let tags):
            effects.append(.abandoned(tags))
        }
    }

    /// Ends a pump: writes its durable changes but the votes for instances up to `decided`
    /// (the decided record supersedes them), and makes the messages it held wait for the last
    /// record written.
    package mutating func seal<Log: OutboxLog>(decided: Int64, log: Log?) throws(Log.Failure) {
        guard let log, durable, !pendingChanges.isEmpty || messages.last?.after == .max else { return }
        for change in pendingChanges {
            if case .vote(let entry) = change, entry.instance <= decided { continue }
            let record = try log.append(change)
            barrier = max(barrier, record)
            if case .vote(let entry) = change { voteRecords[entry.instance] = record }
        }
        pendingChanges.removeAll(keepingCapacity: true)
        let last = log.lastIndex
        var i = messages.count - 1
        while i >= messagesHead && messages[i].after == .max {
            messages[i].after = last
            i -= 1
        }
    }

    /// The log is durable through `index`: the batches, then the messages, that waited for it
    /// go to `effects`, in order.
    package mutating func synced(through index: UInt64, into effects: inout [Effect]) {
        releaseBatches(durableThrough: index, into: &effects)
        while messagesHead < messages.count && messages[messagesHead].after <= index {
            effects.append(.send(to: messages[messagesHead].peer, messages[messagesHead].message))
            messagesHead += 1
        }
        if messagesHead == messages.count {
            messages.removeAll(keepingCapacity: true)
            messagesHead = 0
        }
    }

    /// Every decided batch held, through `instance`, goes to `effects` now, whatever it waits
    /// for: a host about to install a member's state through `instance` applies them first. That
    /// member applied them, so they are durable at a quorum; applied here, their own writes are
    /// answered with their real outcome rather than lost track of.
    package mutating func release(through instance: Int64, into effects: inout [Effect]) {
        while batchesHead < batches.count && batches[batchesHead].instance <= instance, let batch = batches[batchesHead].batch {
            let held = batches[batchesHead]
            effects.append(.apply(instance: held.instance, batch: batch, record: held.record))
            batchesHead += 1
        }
    }

    /// The host recorded a state copied from a member, through `instance`, at log index
    /// `record`, and consensus continues from it: batches and vote records at or below it are
    /// superseded (`release` them first); the store is replaced (`Effect.install`) once the
    /// record is durable, and every batch decided after it, and every message, waits for that:
    /// the node never serves a copied state its own log could still lose.
    package mutating func install(through instance: Int64, record: UInt64) {
        precondition(durable, "a memory-only node installs at once")
        batches.removeFirst(batchesHead)
        batchesHead = 0
        batches.removeAll { $0.instance <= instance }
        batches.insert(HeldBatch(record: record, after: record, instance: instance, batch: nil), at: 0)
        voteRecords = voteRecords.filter { $0.key > instance }
        barrier = max(barrier, record)
    }

    private mutating func releaseBatches(durableThrough index: UInt64, into effects: inout [Effect]) {
        while batchesHead < batches.count && batches[batchesHead].after <= index {
            let held = batches[batchesHead]
            if let batch = held.batch {
                effects.append(.apply(instance: held.instance, batch: batch, record: held.record))
            } else {
                effects.append(.install(through: held.instance))
            }
            batchesHead += 1
        }
        if batchesHead == batches.count {
            batches.removeAll(keepingCapacity: true)
            batchesHead = 0
        }
    }
}

/// The log an `Outbox` records into: appends are buffered (no I/O), each returns its index;
/// `durableIndex` is the last index on stable storage.
package protocol OutboxLog: AnyObject {
    associatedtype Failure: Error
    func append(_ change: DurableChange) throws(Failure) -> UInt64
    func append(_ entry: DecidedEntry) throws(Failure) -> UInt64
    var durableIndex: UInt64 { get }
    /// The index of the last record appended.
    var lastIndex: UInt64 { get }
}
