/// # Consensus: Multi-Paxos with a stable leader
///
/// **Choice.** One leader per ballot runs phase 1 once, for every instance from its first
/// undecided one on, then drives phase 2 for a pipeline of instances. Each instance decides a
/// `Batch` of proposals; each proposal later takes its own store revision, so one instance
/// carries many client writes. Members that are not the leader forward their proposals to it.
/// Followers elect a new leader after an election timeout without hearing from it.
///
/// **Model.** A pure state machine: inputs are `propose`, `receive(_:from:)`, `tick(now:)`,
/// `applied(_:members:)` and `flush()`; outputs (`Output`: messages to send, decided
/// batches) are taken with `takeOutputs`. No sockets, no clock, no randomness except the seed
/// it is given, so a simulator and the server drive the same code and one seed replays a run.
///
/// **Invariants.**
/// 1. Safety (classic Paxos): an acceptor votes for `(instance, ballot)` only if it has not
///    promised a higher ballot; a leader proposes at an instance only after a quorum of that
///    instance's members promised its ballot, and then proposes the value of the highest
///    ballot they reported (any value if none). So at most one batch is ever chosen per
///    instance.
/// 2. Membership (α): the members of instance `i` are the members after applying instance
///    `i − α` (`ScheduleEntry`); a leader proposes only up to `applied + α`, so it always
///    knows the members of what it proposes. The schedule covers every instance after
///    `applied` (not only after `decided`): the bootstrap a joiner installs is stamped at
///    `applied`, and must name the members of the decided instances after it. Messages from
///    peers outside every known member set are dropped (B4, B5); nothing on the wire can make
///    a node decide or propose.
/// 3. Order: batches are handed to the host strictly in instance order, each exactly once;
///    every replica admits the same proposals of a batch (de-duplication by `(origin, seq)`
///    watermarks, themselves replicated state), so all apply the same revisions.
/// 4. Exactly once for acknowledged writes: a proposal is re-sent (same `seq`) while it may
///    have been lost, and re-proposed under a new `seq` only once its old `seq` can never be
///    admitted (the origin's watermark passed it), so no write is applied twice or dropped
///    while a quorum lives.
/// 5. Bounds: pending proposals (`maxPending`), the leader's queue (`maxQueueBytes`), votes
///    held (`maxVotes`), early decided entries (`maxEarly`), the decided log kept for
///    catch-up (`retainedInstances`) and entries per fetch reply (`fetchLimit`) are all fixed;
///    the tables per peer (`lastHeard`, `lastAck`, followers) hold only the nodes the host's
///    address table names (`keep(peers:)`) and the schedule's members.
///    The de-duplication table (`Admission`) holds an entry per origin whose node is in
///    `/ctl/node`, plus those retired in the last α instances: when a node's entry goes, the
///    leader proposes its retirement, decided like any write, which drops its watermark on
///    every replica at the same instance (a memory-only node takes a new id each start, so
///    without it the table would grow by one per start, forever).
///
/// **Durable state** (`ConsensusOptions.durable`, a node with `-data`) is `promised` plus
/// `votes` (instance → ballot and batch), everything a restarted acceptor must remember to keep
/// its promises, and the highest proposal `seq` reserved, so a restarted proposer never reuses
/// a `seq` an earlier run may still have in flight. They change in exactly three places,
/// `promise(_:)`, `vote(_:)` and `enqueueOwn(_:)`, and each change is an `Output.persist`
/// ahead of every message that depends on it: the host must keep every message it is given
/// after a `persist` until that change is on stable storage. The host restores them with
/// `replay(_:_:)` and `restore(_:)` (see `DurableState`).
public struct Consensus {
    public let me: PeerID
    public private(set) var options: ConsensusOptions
    public private(set) var now: Int64
    private var rng: SplitMix64

    // Membership.
    private var schedule: [ScheduleEntry] {
        didSet { known = Self.distinctMembers(schedule) }
    }
    /// `knownMembers`, kept with `schedule` (heartbeats read it on every flush).
    private var known: [PeerID]

    // Learner.
    /// The decided prefix: every instance up to here is decided and handed to the host.
    public private(set) var decided: Int64
    /// The last instance the host reported applied.
    public private(set) var applied: Int64
    private var log = DecidedLog()
    /// De-duplication at `decided`.
    private var admission: Admission
    /// De-duplication after the last applied instance: what a snapshot of the host's store,
    /// taken at `applied`, is consistent with.
    private var appliedAdmission: Admission
    /// Origins whose node left `/ctl/node` (`retire`) and still hold a watermark: the leader
    /// proposes their retirement. At most one per entry of `admission`.
    private var retiring: Set<PeerID> = []
    /// The retirement markers in the leader's queue or in flight.
    private var retirementsProposed: Set<PeerID> = []
    private var commitHint = (ballot: Ballot.zero, upTo: Int64(0))
    /// When this node last decided an instance, or first heard of a commit beyond what it
    /// decided. Behind the commit point, it fetches from the leader only after a
    /// `fetchInterval` without progress: the accept it lacks may still be on its way (a large
    /// one on a peer stream is overtaken by the small commit datagram that follows it).
    private var progressAt: Int64 = .min / 2
    private var early: [Int64: Batch] = [:]
    private var lastFetchAt: Int64 = .min / 2
    private var lastEntriesAt: Int64
    /// A member to learn from when this node is not a member (a slave): set by the host, and
    /// moved to another member when it goes quiet or is no member of the next instance.
    public var upstream: PeerID?
    private var followers: [PeerID: Int64] = [:]
    private var pushFrom: Int64

    // Acceptor.
    public private(set) var promised: Ballot = .zero
    private var votes: [Int64: AcceptedEntry] = [:]

    // Leadership.
    private enum Role { case follower, candidate, leader }
    private var role = Role.follower
    private var ballot = Ballot.zero
    private var highestRound: UInt64 = 0
    /// The leader this node follows (itself when leading), nil while unknown.
    public private(set) var leader: PeerID?
    private var electionDeadline: Int64
    private var promisers: Set<PeerID> = []
    private var candidateFrom: Int64 = 0
    private var recovered: [Int64: AcceptedEntry] = [:]
    private var recoveredEnd: Int64 = 0
    private var slots: [Int64: LeaderSlot] = [:]
    /// Payload bytes in `slots`: bounds what an acceptor holds in votes, hence a promise's size.
    private var inflightBytes = 0
    /// The part of `inflightBytes` in batches that travel in datagrams (see `limitInflight`).
    private var datagramInflightBytes = 0
    private var nextInstance: Int64 = 0
    private var queue: [Proposal] = []
    private var queueHead = 0
    private var queueBytes = 0
    private var lastHeartbeatAt: Int64 = .min / 2
    private var lastAck: [PeerID: Int64] = [:]
    private var commitDirty = false

    // Proposer.
    private var nextSeq: UInt64
    /// Own `seq`s up to here are reserved in durable state; a restarted node starts above.
    private var reservedSeq: UInt64 = 0
    /// The first `seq` of this run: own proposals below it belong to an earlier run of this
    /// node (before a restart) and are nobody's to answer here.
    public private(set) var firstOwnSeq: UInt64
    private var pending: [UInt64: PendingProposal] = [:]
    private var forwards: [Proposal] = []
    private var lastPendingScan: Int64

    /// Time (ns) each peer was last heard from with a valid message: failure detection reads it.
    public private(set) var lastHeard: [PeerID: Int64] = [:]
    /// Messages dropped: from peers outside every member set, for another ballot, or malformed.
    public private(set) var dropped = 0

    private var outputs: [Output] = []
    private var selfInbox: [Message] = []

    /// A node starting from `bootstrap`: a seed (`Bootstrap.seed`), a joiner that installed a
    /// snapshot with its consensus state, or a durable node restarting from what its log
    /// holds (then `replay` each instance the log decided after `bootstrap.instance`, and
    /// `restore` the durable state). `seed` feeds the election-timeout randomness.
    public init(me: PeerID, options: ConsensusOptions = ConsensusOptions(), bootstrap: Bootstrap,
                now: Int64, seed: UInt64) {
        self.me = me
        self.options = options
        self.now = now
        rng = SplitMix64(seed: seed)
        schedule = bootstrap.schedule
        known = Self.distinctMembers(bootstrap.schedule)
        decided = bootstrap.instance
        applied = bootstrap.instance
        admission = Admission(seqs: bootstrap.watermarks, retired: bootstrap.retired)
        appliedAdmission = admission
        nextSeq = (bootstrap.watermarks[me] ?? 0) + 1
        firstOwnSeq = nextSeq
        log.reset(after: bootstrap.instance)
        pushFrom = bootstrap.instance + 1
        electionDeadline = now
        lastEntriesAt = now
        lastLeaderContact = now
        lastPendingScan = now
        electionDeadline = now + randomElectionTimeout(base: options.electionTimeout / 4)
    }

    // MARK: Queries

    /// The members of `instance` (sorted), from the membership schedule. The schedule covers
    /// every instance after the last applied one (invariant 2); asking for an older one is a
    /// bug in the caller, not a question with a default answer.
    public func members(at instance: Int64) -> [PeerID] {
        precondition(instance >= schedule[0].from,
                     "members of instance \(instance) asked, the schedule starts at \(schedule[0].from) (applied \(applied))")
        var result = schedule[0].members
        for entry in schedule.dropFirst() where entry.from <= instance { result = entry.members }
        return result
    }

    /// Whether this node is a member of the instance after the last applied one (whose member
    /// set is always known): it may take writes.
    public var isMember: Bool { members(at: applied + 1).contains(me) }

    /// Whether this node is the leader.
    public var isLeader: Bool { role == .leader }

    /// Whether this node is in touch with a majority of its cluster: it leads (a leader that
    /// loses its quorum steps down), or a member heard its leader — a slave, entries from its
    /// upstream — within two election timeouts. Out of touch, the node still answers reads
    /// from its replica (they may be stale); its writes wait for a leader.
    public var inContact: Bool {
        if role == .leader { return true }
        if members(at: decided + 1).contains(me) { return now - lastLeaderContact <= 2 * options.electionTimeout }
        return now - lastEntriesAt <= 2 * options.electionTimeout + 2 * options.followerKeepalive
    }

    /// The highest instance this node knows to be decided: its decided prefix, or a commit it
    /// heard announced beyond it (the instances between are on their way or being fetched).
    public var knownCommit: Int64 { max(decided, commitHint.upTo) }

    /// The ballot this node last stood for election with (zero: never).
    public var candidacy: Ballot { ballot }

    /// Every peer of every member set still in force or scheduled, sorted.
    public var knownMembers: [PeerID] { known }

    private static func distinctMembers(_ schedule: [ScheduleEntry]) -> [PeerID] {
        var all: [PeerID] = []
        for entry in schedule { for p in entry.members where !all.contains(p) { all.append(p) } }
        return all.sorted()
    }

    /// The member sets in force and scheduled, oldest first.
    public var scheduleEntries: [ScheduleEntry] { schedule }

    /// Proposals of this node not yet applied.
    public var pendingCount: Int { pending.count }

    /// The origins de-duplication keeps a watermark for, and those whose retirement this node
    /// knows is due (`retire`): every other origin's watermark was dropped.
    public var watermarkOrigins: Set<PeerID> { Set(admission.seqs.keys) }
    public var retiringOrigins: Set<PeerID> { retiring }

    /// What a joiner needs besides the store to continue from `applied`: travels with snapshots.
    public var bootstrapState: Bootstrap {
        Bootstrap(instance: applied, schedule: schedule, watermarks: appliedAdmission.seqs, retired: appliedAdmission.retired)
    }

    /// The durable state now: what a host writes again after dropping the log records that
    /// held its changes (compaction, a snapshot installed).
    public var durableState: DurableState {
        DurableState(promised: promised, votes: votes, reservedSeq: reservedSeq)
    }

    /// The earliest time `tick` has something to do.
    public var nextDeadline: Int64 {
        // A leader's election deadline is stale: it checks its quorum at each heartbeat.
        let t = role == .leader ? lastHeartbeatAt + options.heartbeatInterval : electionDeadline
        return min(t, lastPendingScan + options.forwardTimeout / 2, nextFollowAt)
    }

    /// When `followIfNeeded` next has something to do: a deadline it would pass over
    /// unchanged makes the host's timer fire again at once.
    private var nextFollowAt: Int64 {
        if commitHint.upTo > decided, let leader, leader != me {
            return max(lastFetchAt, progressAt) + options.fetchInterval
        }
        guard !members(at: decided + 1).contains(me) else { return .max }
        if learnsFromNonMember { return now }
        guard upstream ?? leader != nil else { return upstreamQuietAt }
        // Or the moment the upstream has been quiet for a keepalive, when fetches speed up.
        let speedsUp = max(lastFetchAt + options.fetchInterval, lastEntriesAt + options.followerKeepalive + 1)
        return min(upstreamQuietAt, learnerFetchAt, speedsUp)
    }

    /// A learner's upstream counts as quiet from here on: it moves to the next member.
    private var upstreamQuietAt: Int64 { lastEntriesAt + options.followerKeepalive * 2 + 1 }

    /// Whether a learner would fetch from nobody, or from a node that is no member of the next
    /// instance, while another member exists: it moves to a member at once. A non-member
    /// learns from others itself, so two of them (members removed together, say) could answer
    /// each other's fetches with nothing new forever, each keeping the other from going quiet.
    private var learnsFromNonMember: Bool {
        let members = members(at: decided + 1)
        guard members.contains(where: { $0 != me }) else { return false }
        return (upstream ?? leader).map { !members.contains($0) } ?? true
    }

    /// A learner's next fetch: a keepalive after the last while entries arrive, `fetchInterval`
    /// after it once the upstream has been quiet for a keepalive.
    private var learnerFetchAt: Int64 {
        lastFetchAt + (now - lastEntriesAt > options.followerKeepalive ? options.fetchInterval : options.followerKeepalive)
    }

    // MARK: Inputs

    /// The host's peers are now `peers` (a node's entry under `/ctl/node` went): the tables
    /// kept per peer — when each was last heard from and answered, who follows — forget the
    /// others, but for the members of the schedule. So they are bounded by the nodes the
    /// cluster knows, not by every node that ever spoke.
    public mutating func keep(peers: Set<PeerID>) {
        let known = known
        let kept = { (peer: PeerID) in peers.contains(peer) || known.contains(peer) }
        if lastHeard.keys.contains(where: { !kept($0) }) { lastHeard = lastHeard.filter { kept($0.key) } }
        if lastAck.keys.contains(where: { !kept($0) }) { lastAck = lastAck.filter { kept($0.key) } }
        if followers.keys.contains(where: { !kept($0) }) { followers = followers.filter { kept($0.key) } }
    }

    /// The node of `origin` is gone from `/ctl/node` in the state this host applied: it will
    /// propose nothing more, so its watermark may go. The leader proposes its retirement, which
    /// every replica applies at the instance it is decided at (`Admission`). A hint: calling it
    /// again, or on every node, is harmless.
    public mutating func retire(_ origin: PeerID) {
        guard origin != me, admission.seqs[origin] != nil else { return }
        retiring.insert(origin)
    }

    /// Lowers `maxInflightBytes` to `bytes`, and the bytes of batches smaller than
    /// `streamedFrom` (those the host sends in datagrams; larger ones go on streams, which pace
    /// themselves) to `datagramBytes`, e.g. what followers' receive buffers hold: a burst of
    /// accepts larger than that is dropped by their kernels and sent again. Only how far ahead
    /// the leader proposes changes, never what may be decided.
    public mutating func limitInflight(to bytes: Int, datagramBytes: Int = .max, streamedFrom: Int = .max) {
        options.maxInflightBytes = min(options.maxInflightBytes, bytes)
        options.maxInflightDatagramBytes = min(options.maxInflightDatagramBytes, datagramBytes)
        options.streamedBatchBytes = min(options.streamedBatchBytes, streamedFrom)
    }

    /// Counts a slot in (`sign` 1) or out (−1) of the bytes in flight.
    private mutating func account(_ slot: LeaderSlot, _ sign: Int) {
        inflightBytes += sign * slot.bytes
        if slot.bytes < options.streamedBatchBytes { datagramInflightBytes += sign * slot.bytes }
    }

    public enum ProposeResult: Equatable, Sendable {
        case accepted
        /// This node is not a member of the next instance (B11, B12): answer READONLY.
        case notMember
        /// `maxPending` proposals are already in flight.
        case overloaded
    }

    /// Hands a write to the cluster. Exactly one `Output.decided` batch will later contain it
    /// (with this `tag` and this node as origin) while a quorum of members lives. Client
    /// writes need a member; a slave's own bookkeeping (claiming a slot, its pulse) passes
    /// `fromSlave` and is forwarded to the leader like a member's.
    public mutating func propose(_ payload: [UInt8], tag: UInt64, fromSlave: Bool = false, now: Int64) -> ProposeResult {
        self.now = max(self.now, now)
        guard isMember || fromSlave else { return .notMember }
        guard pending.count < options.maxPending else { return .overloaded }
        enqueueOwn(PendingProposal(tag: tag, payload: payload, handedAt: nil))
        return .accepted
    }

    /// A message from `sender`, already authenticated by the transport as that peer, at
    /// time `now`.
    public mutating func receive(_ message: Message, from sender: PeerID, now: Int64) {
        self.now = max(self.now, now)
        handle(message, from: sender)
        drainSelf()
    }

    /// Advances the clock and runs what is due: elections, heartbeats, retransmissions,
    /// re-sending of proposals that may have been lost, fetches.
    public mutating func tick(now: Int64) {
        self.now = max(self.now, now)
        let now = self.now
        switch role {
        case .leader:
            if !members(at: decided + 1).contains(me) || !hasQuorumContact() {
                stepDown()
            } else {
                if now >= lastHeartbeatAt + options.heartbeatInterval { heartbeat(invite: true) }
                retransmit()
            }
        case .candidate, .follower:
            if now >= electionDeadline {
                if members(at: decided + 1).contains(me) {
                    startCandidacy()
                } else {
                    electionDeadline = now + randomElectionTimeout(base: options.electionTimeout)
                }
            }
        }
        if now >= lastPendingScan + options.forwardTimeout / 2 { resendStale() }
        followIfNeeded()
        drainSelf()
    }

    /// The host applied decided instance `instance` (the one after the last applied: one at a
    /// time, so the schedule cannot depend on how a host groups its reports); `members` is
    /// the member set in the store after it, in force from `instance + α` on.
    public mutating func applied(_ instance: Int64, members: [PeerID]) {
        precondition(instance <= decided, "applied an undecided instance")
        precondition(instance == applied + 1, "applied instance \(instance) after \(applied): one at a time, in order")
        let wasMember = isMember
        let refused = appliedAdmission.admit(log[instance].batch, at: instance, alpha: options.alpha)
        assert(refused.isEmpty, "a decided entry holds only what its instance admitted")
        applied = instance
        if !members.isEmpty && !Self.sameMembers(members, schedule[schedule.count - 1].members) {
            schedule.append(ScheduleEntry(from: instance + options.alpha, members: members))
        }
        // A member set goes once the next one is in force at the first instance not applied:
        // the bootstrap a joiner takes is stamped at `applied`, and the decided instances
        // after it (a durable host applies behind its decisions) keep their own members.
        while schedule.count > 1 && schedule[1].from <= applied + 1 { schedule.removeFirst() }
        if wasMember && !isMember && !pending.isEmpty {
            // Removed (B11): nothing will carry these any more. They may still be applied if
            // a leader already holds them; the host reports the outcome as unknown.
            outputs.append(.abandoned(pending.values.map(\.tag).sorted()))
            pending.removeAll()
        }
        proposeMore()
        drainSelf()
    }

    /// Whether `members` (in any order) is the sorted member set `current`, without sorting a
    /// copy unless `members` is out of order: hosts report the members after every instance.
    private static func sameMembers(_ members: [PeerID], _ current: [PeerID]) -> Bool {
        guard members.count == current.count else { return false }
        let inOrder = members.indices.dropFirst().allSatisfy { members[$0 - 1] <= members[$0] }
        return inOrder ? members == current : members.sorted() == current
    }

    /// End of a batch of inputs (one reactor iteration): forms batches from what was proposed,
    /// forwards proposals, announces the decided prefix, pushes entries to followers.
    public mutating func flush() {
        if role == .leader && retirementsProposed.count < retiring.count {
            for origin in retiring.sorted() where !retirementsProposed.contains(origin) {
                retirementsProposed.insert(origin)
                enqueueForLeader(.retirement(of: origin))
            }
        }
        proposeMore()
        if !forwards.isEmpty && (leader == nil || leader == me) {
            // The leader changed since these were handed: this node's queue if it leads now,
            // else as soon as a leader is known.
            let seqs = forwards.map(\.seq)
            forwards.removeAll(keepingCapacity: true)
            for seq in seqs {
                if leader == me { hand(seq) } else { pending[seq]?.handedAt = nil }
            }
        } else if !forwards.isEmpty, let leader {
            // In messages of about `maxBatchBytes`, so none outgrows the transport.
            var start = 0, bytes = 0
            for (i, p) in forwards.enumerated() {
                if i > start && bytes + p.payload.count > options.maxBatchBytes {
                    send(.forward(Array(forwards[start..<i])), to: leader)
                    start = i
                    bytes = 0
                }
                bytes += p.payload.count
            }
            send(.forward(Array(forwards[start...])), to: leader)
        }
        forwards.removeAll(keepingCapacity: true)
        if commitDirty && role == .leader {
            commitDirty = false
            heartbeat(invite: false)
        }
        pushToFollowers()
        drainSelf()
    }

    /// The host replaced its store with a snapshot taken after `bootstrap.instance` (this node
    /// fell behind what its peers keep). The learner continues from there; the acceptor keeps
    /// its promise and its votes above it, so no promise is broken.
    public mutating func install(_ bootstrap: Bootstrap) {
        guard bootstrap.instance > decided else { return }
        if role != .follower { stepDown() }
        schedule = bootstrap.schedule
        decided = bootstrap.instance
        applied = bootstrap.instance
        admission = Admission(seqs: bootstrap.watermarks, retired: bootstrap.retired)
        appliedAdmission = admission
        retiring = retiring.filter { admission.seqs[$0] != nil }
        log.reset(after: decided)
        pushFrom = decided + 1
        votes = votes.filter { $0.key > decided }
        early = early.filter { $0.key > decided }
        // Own proposals at or below the new watermark may or may not be among the instances
        // skipped: their outcome is unknown.
        let own = admission.seqs[me] ?? 0
        nextSeq = max(nextSeq, own + 1)
        let unknown = pending.filter { $0.key <= own }
        if !unknown.isEmpty {
            outputs.append(.abandoned(unknown.values.map(\.tag).sorted()))
            for seq in unknown.keys { pending[seq] = nil }
        }
        learn()
    }

    /// A durable node restoring from its log, before it runs (after every `replay`): the
    /// acceptor keeps the promise and the votes above the decided prefix that its log recorded,
    /// and the proposer starts above every `seq` reserved.
    public mutating func restore(_ durable: DurableState) {
        promised = max(promised, durable.promised)
        for (instance, vote) in durable.votes where instance > decided {
            votes[instance] = vote
            promised = max(promised, vote.ballot)
        }
        highestRound = max(highestRound, promised.round)
        reservedSeq = max(reservedSeq, durable.reservedSeq)
        nextSeq = max(nextSeq, reservedSeq + 1)
        firstOwnSeq = nextSeq
    }

    /// A durable node restoring from its log, before it runs: `instance` (= `decided + 1`) was
    /// decided with these admitted proposals, and the host applied them. The learner moves on
    /// as if it had decided it; nothing is output. The host then reports `applied(_:members:)`.
    public mutating func replay(_ instance: Int64, _ admitted: Batch) {
        precondition(instance == decided + 1, "replayed out of order")
        let refused = admission.admit(admitted, at: instance, alpha: options.alpha)
        assert(refused.isEmpty, "a decided record holds only what its instance admitted")
        decided = instance
        votes[instance] = nil
        log.append(DecidedEntry(instance: instance, batch: admitted), keep: options.retainedInstances,
                   bytes: options.retainedBytes, applied: applied)
        pushFrom = instance + 1
        nextSeq = max(nextSeq, (admission.seqs[me] ?? 0) + 1)
        firstOwnSeq = nextSeq
    }

    /// The outputs produced since the last call, in order.
    public mutating func takeOutputs() -> [Output] {
        var taken: [Output] = []
        takeOutputs(into: &taken)
        return taken
    }

    /// Moves the outputs produced since the last call into `buffer`, which must be empty, and
    /// keeps `buffer`'s storage for the next ones. A host that empties its buffer (keeping its
    /// capacity) before handing it back trades the same two arrays back and forth: taking
    /// outputs allocates nothing.
    public mutating func takeOutputs(into buffer: inout [Output]) {
        precondition(buffer.isEmpty, "outputs are taken into an empty buffer")
        swap(&outputs, &buffer)
    }

    /// Stands for election now rather than after a timeout: a seed, the only member of its
    /// cluster, leads from its first write.
    public mutating func campaign() {
        guard role == .follower, members(at: decided + 1).contains(me) else { return }
        startCandidacy()
        drainSelf()
    }

    // MARK: Messages

    private mutating func handle(_ message: Message, from sender: PeerID) {
        let configured = isConfigured(sender)
        switch message {
        case .fetch, .forward:
            break   // slaves learn and forward their bookkeeping: any peer the transport let through
        case .entries, .tooOld:
            // Decided entries (and where to copy a state from) come only from members: a slave
            // the transport lets through must not be able to make this node decide anything.
            guard configured else {
                dropped += 1
                return
            }
        default:
            guard configured else {
                dropped += 1
                // A node removed while away (B11) learns it is behind and catches up.
                send(.entries(decided: decided, leader: leader, []), to: sender)
                return
            }
        }
        lastHeard[sender] = now
        switch message {
        case .prepare(let b, let from):
            onPrepare(b, from: from, sender: sender)
        case .promise(let b, let from, let theirDecided, let accepted):
            onPromise(b, from: from, decided: theirDecided, accepted: accepted, sender: sender)
        case .reject(let b, let theirPromise, let theirDecided):
            highestRound = max(highestRound, theirPromise.round)
            if theirDecided > decided { requestFetch(from: sender) }
            if b == ballot && role != .follower && theirPromise > ballot { stepDown() }
        case .accept(let b, let instance, let batch, let commit):
            onAccept(b, instance: instance, batch: batch, commit: commit, sender: sender)
        case .accepted(let b, let instance):
            onAccepted(b, instance: instance, sender: sender)
        case .commit(let b, let upTo):
            guard b.leader == sender else { dropped += 1; return }
            if b < promised {
                send(.reject(ballot: b, promised: promised, decided: decided), to: sender)
                return
            }
            follow(b)
            if isAcceptor { send(.accepted(ballot: b, instance: 0), to: sender) }
            noteCommit(b, upTo)
        case .forward(let proposals):
            guard role == .leader else { dropped += 1; return }
            for p in proposals where p.origin == sender { enqueueForLeader(p) }
        case .fetch(let from):
            onFetch(from: from, sender: sender)
        case .entries(let theirDecided, let theirLeader, let entries):
            onEntries(decided: theirDecided, leader: theirLeader, entries: entries, sender: sender)
        case .tooOld:
            outputs.append(.snapshotNeeded(from: sender))
        }
    }

    private mutating func onPrepare(_ b: Ballot, from: Int64, sender: PeerID) {
        guard b.leader == sender else { dropped += 1; return }
        highestRound = max(highestRound, b.round)
        // Stickiness: while a leader is heard from, a candidate that cannot hear it (one-way
        // loss, the original's #59) must not depose it.
        let leaderAlive = role == .leader
            || (leader != nil && leader != sender && now < lastLeaderContact + options.electionTimeout)
        // A node no longer (or not yet) voting still says how far it has decided, so a
        // candidate that fell behind learns it and catches up.
        if !isAcceptor || b < promised || from <= decided || (b > promised && leaderAlive) {
            send(.reject(ballot: b, promised: promised, decided: decided), to: sender)
            return
        }
        promise(b)
        if sender != me {
            if role != .follower { stepDown() }
            leader = nil
            electionDeadline = now + randomElectionTimeout(base: options.electionTimeout)
        }
        var reported: [AcceptedEntry] = []
        for (instance, vote) in votes where instance >= from { reported.append(vote) }
        reported.sort { $0.instance < $1.instance }
        send(.promise(ballot: b, from: from, decided: decided, accepted: reported), to: sender)
    }

    /// When this node last heard from the leader it follows (the start, before that).
    private var lastLeaderContact: Int64

    private mutating func onPromise(_ b: Ballot, from: Int64, decided theirDecided: Int64,
                                    accepted: [AcceptedEntry], sender: PeerID) {
        guard b == ballot, role == .leader || (role == .candidate && from == candidateFrom) else { return }
        guard !promisers.contains(sender) else { return }
        promisers.insert(sender)
        lastAck[sender] = now
        // After taking office, only instances not started yet can still use a late report.
        let start = role == .leader ? nextInstance : candidateFrom
        for entry in accepted where entry.instance >= start {
            if let known = recovered[entry.instance], known.ballot >= entry.ballot { continue }
            recovered[entry.instance] = entry
            recoveredEnd = max(recoveredEnd, entry.instance)
        }
        // A quorum of the members of the first instance it would propose at: a candidate may
        // have learned instances past `candidateFrom` (and past a change of members) since it
        // stood; the promises cover those too.
        if role == .candidate && hasPromiseQuorum(at: decided + 1) { becomeLeader() }
        if role == .leader { proposeMore() }
    }

    private mutating func onAccept(_ b: Ballot, instance: Int64, batch: Batch, commit: Int64, sender: PeerID) {
        guard b.leader == sender else { dropped += 1; return }
        if !isAcceptor || b < promised {
            send(.reject(ballot: b, promised: promised, decided: decided), to: sender)
            return
        }
        follow(b)
        if instance > decided {
            if votes[instance] == nil && votes.count >= options.maxVotes {
                requestFetch(from: sender)   // too far behind to hold more votes: catch up first
                return
            }
            vote(AcceptedEntry(instance: instance, ballot: b, batch: batch))
        }
        send(.accepted(ballot: b, instance: instance), to: sender)
        noteCommit(b, commit)
    }

    private mutating func onAccepted(_ b: Ballot, instance: Int64, sender: PeerID) {
        guard role == .leader, b == ballot else { return }
        lastAck[sender] = now
        guard instance > decided, var slot = slots[instance] else { return }
        let members = members(at: instance)
        guard let position = members.firstIndex(of: sender), slot.acks.insert(position) else { return }
        if !slot.chosen && slot.acks.count >= quorum(members.count) { slot.chosen = true }
        slots[instance] = slot
        while let next = slots[decided + 1], next.chosen {
            slots[decided + 1] = nil
            account(next, -1)
            let members = self.members(at: decided + 1)
            let ownVote = members.firstIndex(of: me).map { next.acks.contains($0) } ?? false
            let others = next.acks.count - (ownVote ? 1 : 0)
            decide(decided + 1, next.batch, durableElsewhere: others >= quorum(members.count))
            commitDirty = true
        }
    }

    private mutating func onFetch(from: Int64, sender: PeerID) {
        if sender != me { followers[sender] = now }
        if from <= decided && from < log.first {
            send(.tooOld(oldest: log.first), to: sender)
            return
        }
        var entries: [DecidedEntry] = []
        var bytes = 0
        var i = max(from, log.first)
        while i <= decided && entries.count < options.fetchLimit && bytes < options.fetchBytes {
            let entry = log[i]
            bytes += entry.batch.reduce(0) { $0 + $1.payload.count + 32 }
            entries.append(entry)
            i += 1
        }
        send(.entries(decided: decided, leader: leader, entries), to: sender)
    }

    private mutating func onEntries(decided theirDecided: Int64, leader theirLeader: PeerID?,
                                    entries: [DecidedEntry], sender: PeerID) {
        lastEntriesAt = now
        // A member learns its leader from the leader itself (`follow`); a slave from whom it
        // follows, so its forwarded bookkeeping reaches the current leader.
        if let theirLeader, theirLeader != me, isConfigured(theirLeader),
           leader == nil || (!isMember && leader != theirLeader) {
            leader = theirLeader
            handPendingToLeader()
        }
        for entry in entries where entry.instance > decided {
            if entry.instance == decided + 1 {
                decide(entry.instance, entry.batch, durableElsewhere: true)
            } else if early.count < options.maxEarly {
                early[entry.instance] = entry.batch
            }
        }
        learn()
        if theirDecided > decided {
            lastFetchAt = .min / 2   // more to fetch: ask again at once
            requestFetch(from: sender)
        }
    }

    // MARK: Acceptor

    private var isAcceptor: Bool { schedule.contains { $0.members.contains(me) } }

    /// The only change to `promised`.
    private mutating func promise(_ b: Ballot) {
        guard b > promised else { return }
        promised = b
        if options.durable { outputs.append(.persist(.promise(b))) }
    }

    /// The only change to `votes` besides dropping those of decided instances.
    private mutating func vote(_ entry: AcceptedEntry) {
        votes[entry.instance] = entry
        if options.durable { outputs.append(.persist(.vote(entry))) }
    }

    // MARK: Learner

    private mutating func noteCommit(_ b: Ballot, _ upTo: Int64) {
        let wasBehind = commitHint.upTo > decided
        if b > commitHint.ballot || (b == commitHint.ballot && upTo > commitHint.upTo) {
            commitHint = (b, upTo)
        }
        learn()
        if commitHint.upTo > decided && !wasBehind { progressAt = now }
        fetchCommitted()
    }

    /// Behind the commit point with no progress for a `fetchInterval`: asks the leader for
    /// the entries. True when behind it (whether or not it asked).
    @discardableResult
    private mutating func fetchCommitted() -> Bool {
        guard commitHint.upTo > decided, let leader, leader != me else { return false }
        if now >= progressAt + options.fetchInterval { requestFetch(from: leader) }
        return true
    }

    /// Decides every instance it can from votes matching the known commit, and early entries.
    private mutating func learn() {
        while true {
            let next = decided + 1
            if let batch = early.removeValue(forKey: next) {
                decide(next, batch, durableElsewhere: true)
            } else if next <= commitHint.upTo, let vote = votes[next], vote.ballot == commitHint.ballot {
                decide(next, vote.batch, durableElsewhere: true)
            } else {
                return
            }
        }
    }

    /// Hands instance `instance` (= decided + 1) to the host: admits the proposals whose seq
    /// passes their origin's watermark, resolves or re-proposes this node's own.
    /// `durableElsewhere`: the decision came from another node (its entries, or a commit
    /// announcement) or from a quorum of other members' votes. Every message leaves a durable
    /// node only after the changes output before it are synced, so such a decision is already
    /// durable at a quorum. A leader's accept leaves before its own vote (which follows it), so
    /// a quorum that counts this node's vote is durable only once that vote is: the host waits
    /// for it.
    private mutating func decide(_ instance: Int64, _ batch: Batch, durableElsewhere: Bool) {
        precondition(instance == decided + 1, "decisions out of order")
        progressAt = now
        if let slot = slots.removeValue(forKey: instance) {
            // Learned (from a peer's entries), not through this leader's own quorum: the slot
            // is done. A batch other than the one this leader proposed means a higher ballot
            // chose it, so this leader is stale and must never announce `commit` over votes
            // at its ballot again (they would decide its batch); it steps down.
            account(slot, -1)
            if admissible(slot.batch, at: instance) != admissible(batch, at: instance) { stepDown() }
        }
        if role == .leader && nextInstance <= instance { nextInstance = instance + 1 }
        let ownBefore = admission.seqs[me] ?? 0
        // Usually every proposal is admitted: then the decided entry shares the batch.
        let refused = admission.admit(batch, at: instance, alpha: options.alpha)
        var admitted = batch
        for i in refused.reversed() { admitted.remove(at: i) }
        for p in admitted {
            if p.origin == me { pending[p.seq] = nil }
            if let origin = p.retiredOrigin { retired(origin) }
        }
        decided = instance
        votes[instance] = nil
        early[instance] = nil
        log.append(DecidedEntry(instance: instance, batch: admitted), keep: options.retainedInstances,
                   bytes: options.retainedBytes, applied: applied)
        outputs.append(.decided(instance: instance, batch: admitted, durableElsewhere: durableElsewhere))
        // Own proposals the watermark passed without admitting can never be admitted now:
        // propose them again under a new seq.
        let ownAfter = admission.seqs[me] ?? 0
        if ownAfter > ownBefore + 1 {
            // Over the pending proposals (bounded by `maxPending`), not the seqs between: the
            // watermark may jump far.
            for seq in pending.keys.sorted() where seq > ownBefore && seq < ownAfter {
                enqueueOwn(pending.removeValue(forKey: seq)!)
            }
        }
    }

    /// The proposals of `batch` that de-duplication would admit at `instance`: how a proposed
    /// batch compares with a decided entry (which holds only what was admitted).
    private func admissible(_ batch: Batch, at instance: Int64) -> Batch {
        var table = admission
        let refused = Set(table.admit(batch, at: instance, alpha: options.alpha))
        return batch.indices.filter { !refused.contains($0) }.map { batch[$0] }
    }

    /// `origin`'s retirement was decided: nothing of it is proposed any more.
    private mutating func retired(_ origin: PeerID) {
        retiring.remove(origin)
        retirementsProposed.remove(origin)
        guard queueHead < queue.count, queue[queueHead...].contains(where: { $0.origin == origin }) else { return }
        let kept = queue[queueHead...].filter { $0.origin != origin }
        queue = Array(kept)
        queueHead = 0
        queueBytes = kept.reduce(0) { $0 + $1.payload.count }
    }

    private mutating func requestFetch(from peer: PeerID) {
        guard peer != me, now >= lastFetchAt + options.fetchInterval else { return }
        lastFetchAt = now
        send(.fetch(from: decided + 1), to: peer)
    }

    /// Slaves and members behind the commit point ask for entries; a slave whose upstream
    /// went quiet, or is no member (`learnsFromNonMember`), moves to another member.
    private mutating func followIfNeeded() {
        if fetchCommitted() { return }
        guard !members(at: decided + 1).contains(me) else { return }
        let fetchDue = now >= learnerFetchAt   // before a move to another upstream resets the quiet
        if now >= upstreamQuietAt || learnsFromNonMember {
            // The upstream went quiet or is no member: try the next member after it.
            let candidates = members(at: decided + 1).filter { $0 != me }
            if !candidates.isEmpty {
                let current = upstream.flatMap { candidates.firstIndex(of: $0) } ?? -1
                upstream = candidates[(current + 1) % candidates.count]
            }
            lastEntriesAt = now
        }
        if fetchDue, let target = upstream ?? leader {
            lastFetchAt = now
            send(.fetch(from: decided + 1), to: target)
        }
    }

    private mutating func pushToFollowers() {
        guard pushFrom <= decided else { return }
        defer { pushFrom = decided + 1 }
        guard !followers.isEmpty else { return }
        var entries: [DecidedEntry] = []
        var i = max(pushFrom, log.first)
        while i <= decided && entries.count < options.fetchLimit {
            entries.append(log[i])
            i += 1
        }
        for peer in followers.keys.sorted() {
            if now - followers[peer]! > options.followerExpiry {
                followers[peer] = nil
            } else {
                send(.entries(decided: decided, leader: leader, entries), to: peer)
            }
        }
    }

    // MARK: Leadership

    private mutating func startCandidacy() {
        role = .candidate
        highestRound = max(highestRound, promised.round, ballot.round)
        ballot = Ballot(round: highestRound + 1, leader: me)
        leader = nil
        candidateFrom = decided + 1
        promisers = []
        recovered = [:]
        recoveredEnd = 0
        electionDeadline = now + randomElectionTimeout(base: options.electionTimeout)
        for peer in knownMembers { send(.prepare(ballot: ballot, from: candidateFrom), to: peer) }
    }

    private mutating func becomeLeader() {
        role = .leader
        leader = me
        nextInstance = decided + 1
        slots = [:]
        inflightBytes = 0
        datagramInflightBytes = 0
        for peer in promisers { lastAck[peer] = now }
        heartbeat(invite: true)
        handPendingToLeader()
        proposeMore()
    }

    private mutating func stepDown() {
        role = .follower
        leader = nil
        slots = [:]
        inflightBytes = 0
        datagramInflightBytes = 0
        recovered = [:]
        promisers = []
        // Proposals queued for others are theirs to re-send; own ones are re-handed when a
        // leader is known (same seq, so an earlier copy still in flight is applied once).
        queue.removeAll()
        queueHead = 0
        queueBytes = 0
        retirementsProposed.removeAll()
        for (seq, var p) in pending { p.handedAt = nil; pending[seq] = p }
        electionDeadline = now + randomElectionTimeout(base: options.electionTimeout)
    }

    /// Accepts `b`'s leader as the one to follow after a valid accept or commit from it.
    private mutating func follow(_ b: Ballot) {
        promise(b)
        highestRound = max(highestRound, b.round)
        lastLeaderContact = now
        electionDeadline = now + randomElectionTimeout(base: options.electionTimeout)
        if b.leader == me { return }
        if role != .follower && ballot < b { stepDown() }
        if leader != b.leader {
            leader = b.leader
            handPendingToLeader()
        }
    }

    private func hasPromiseQuorum(at instance: Int64) -> Bool {
        let members = members(at: instance)
        return members.count { promisers.contains($0) } >= quorum(members.count)
    }

    /// Whether a quorum of the current members answered within two election timeouts; a
    /// member new to this leader counts as having answered when the leader first met it.
    private mutating func hasQuorumContact() -> Bool {
        let members = members(at: decided + 1)
        let horizon = now - 2 * options.electionTimeout
        var alive = 0
        for peer in members {
            if lastAck[peer] == nil { lastAck[peer] = now }
            if peer == me || lastAck[peer]! >= horizon { alive += 1 }
        }
        return alive >= quorum(members.count)
    }

    private func quorum(_ n: Int) -> Int { Self.quorum(n) }

    /// A majority of `n` members: any two intersect.
    public static func quorum(_ n: Int) -> Int { n / 2 + 1 }

    /// Announces the decided prefix to every known member; `invite` also asks members that
    /// have not promised yet (new members, or ones that were away) for their promise.
    private mutating func heartbeat(invite: Bool) {
        lastHeartbeatAt = now
        for peer in knownMembers where peer != me {
            send(.commit(ballot: ballot, upTo: decided), to: peer)
            if invite && !promisers.contains(peer) {
                send(.prepare(ballot: ballot, from: decided + 1), to: peer)
            }
        }
    }

    /// Starts instances while the window allows: recovered votes first, then queued
    /// proposals; empty batches where a recovered instance must be reached or a membership
    /// change brought into effect.
    private mutating func proposeMore() {
        guard role == .leader else { return }
        while nextInstance <= applied + options.alpha && slots.count < Int(options.alpha)
                && inflightBytes < options.maxInflightBytes && datagramInflightBytes < options.maxInflightDatagramBytes {
            let instance = nextInstance
            let members = members(at: instance)
            guard members.contains(me), hasPromiseQuorum(at: instance) else { return }
            let batch: Batch
            if let vote = recovered.removeValue(forKey: instance) {
                batch = vote.batch
            } else if queueHead < queue.count {
                batch = takeBatch()
            } else if instance <= recoveredEnd || schedule.last!.from > instance {
                batch = []
            } else {
                return
            }
            let slot = LeaderSlot(batch: batch, sentAt: now)
            slots[instance] = slot
            account(slot, 1)
            nextInstance += 1
            for peer in members {
                send(.accept(ballot: ballot, instance: instance, batch: batch, commit: decided), to: peer)
            }
        }
    }

    private mutating func takeBatch() -> Batch {
        var end = queueHead
        var bytes = 0
        while end < queue.count && end - queueHead < options.maxBatchProposals {
            let size = queue[end].payload.count
            if end > queueHead && bytes + size > options.maxBatchBytes { break }
            bytes += size
            end += 1
        }
        let batch = Batch(queue[queueHead..<end])
        queueHead = end
        queueBytes -= bytes
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        }
        return batch
    }

    private mutating func enqueueForLeader(_ p: Proposal) {
        guard admission.admits(p) else { return }   // already applied, or its origin retired
        guard queueBytes + p.payload.count <= options.maxQueueBytes else { dropped += 1; return }
        queue.append(p)
        queueBytes += p.payload.count
    }

    private mutating func retransmit() {
        let due = now - options.heartbeatInterval
        // In instance order: outputs never depend on a dictionary's iteration order, so a
        // seed replays exactly.
        for instance in slots.keys.sorted() {
            guard var slot = slots[instance], !slot.chosen, slot.sentAt <= due else { continue }
            slot.sentAt = now
            slots[instance] = slot
            for (position, peer) in members(at: instance).enumerated() where !slot.acks.contains(position) {
                send(.accept(ballot: ballot, instance: instance, batch: slot.batch, commit: decided), to: peer)
            }
        }
    }

    // MARK: Proposer

    private mutating func enqueueOwn(_ p: PendingProposal) {
        let seq = nextSeq
        nextSeq += 1
        if options.durable && seq > reservedSeq {
            reservedSeq = seq + options.seqReservation - 1
            outputs.append(.persist(.seqReserved(reservedSeq)))
        }
        pending[seq] = p
        hand(seq)
    }

    /// Gives an own proposal to the leader: into the queue when leading, else forwarded;
    /// held while no leader is known.
    private mutating func hand(_ seq: UInt64) {
        guard var p = pending[seq], let leader else { return }
        p.handedAt = now
        pending[seq] = p
        let proposal = Proposal(origin: me, seq: seq, tag: p.tag, payload: p.payload)
        if leader == me { enqueueForLeader(proposal) } else { forwards.append(proposal) }
    }

    private mutating func handPendingToLeader() {
        for seq in pending.keys.sorted() { hand(seq) }
    }

    /// Re-hands proposals that were never handed or have waited `forwardTimeout`.
    private mutating func resendStale() {
        lastPendingScan = now
        guard leader != nil else { return }
        let due = now - options.forwardTimeout
        var stale: [UInt64] = []
        for (seq, p) in pending where p.handedAt.map({ $0 <= due }) ?? true { stale.append(seq) }
        if role == .leader {
            // Still queued or in an undecided instance: not lost.
            var inFlight = Set<UInt64>()
            for p in queue[queueHead...] where p.origin == me { inFlight.insert(p.seq) }
            for slot in slots.values { for p in slot.batch where p.origin == me { inFlight.insert(p.seq) } }
            stale.removeAll { inFlight.contains($0) }
        }
        for seq in stale.sorted() { hand(seq) }
    }

    // MARK: Plumbing

    private func isConfigured(_ peer: PeerID) -> Bool {
        schedule.contains { $0.members.contains(peer) }
    }

    private mutating func send(_ message: Message, to peer: PeerID) {
        if peer == me {
            selfInbox.append(message)
        } else {
            outputs.append(.send(to: peer, message))
        }
    }

    private mutating func drainSelf() {
        var i = 0
        while i < selfInbox.count {
            handle(selfInbox[i], from: me)
            i += 1
        }
        selfInbox.removeAll(keepingCapacity: true)
    }

    private mutating func randomElectionTimeout(base: Int64) -> Int64 {
        base + Int64(rng.next() % UInt64(max(1, base)))
    }
}

/// What `Consensus` asks its host to do.
public enum Output: Equatable, Sendable {
    case send(to: PeerID, Message)
    /// Apply these proposals, in order, one revision each, then report `applied(_:members:)`.
    /// A durable node may apply at once a decision `durableElsewhere` (already durable at a
    /// quorum of other members); one whose quorum counts this node's own vote, only once that
    /// vote (or the node's record of the decision) is synced. Either way in instance order.
    case decided(instance: Int64, batch: Batch, durableElsewhere: Bool)
    /// `from` no longer keeps the instances this node needs: install a snapshot from it.
    case snapshotNeeded(from: PeerID)
    /// This node stopped being a member with these own proposals (tags) not applied.
    case abandoned([UInt64])
    /// (`ConsensusOptions.durable` only.) Write this change of durable state; no message
    /// output after it may leave the node before it is on stable storage.
    case persist(DurableChange)
}

/// The member set from instance `from` on.
public struct ScheduleEntry: Equatable, Sendable {
    public var from: Int64
    /// Sorted, whatever order they were given in: vote counting numbers members by position.
    public let members: [PeerID]

    public init(from: Int64, members: [PeerID]) {
        self.from = from
        self.members = members.sorted()
    }
}

/// The consensus state a node starts from: the last applied instance, the member schedule
/// and the de-duplication watermarks, with the origins retired in the last α instances. A seed
/// starts with itself as the only member.
public struct Bootstrap: Equatable, Sendable {
    public var instance: Int64
    public var schedule: [ScheduleEntry]
    public var watermarks: [PeerID: UInt64]
    /// Origins retired, with the instance their retirement was decided at (see `Admission`).
    public var retired: [PeerID: Int64]

    public init(instance: Int64, schedule: [ScheduleEntry], watermarks: [PeerID: UInt64], retired: [PeerID: Int64] = [:]) {
        precondition(!schedule.isEmpty, "a schedule names at least one member set")
        self.instance = instance
        self.schedule = schedule
        self.watermarks = watermarks
        self.retired = retired
    }

    public static func seed(_ me: PeerID) -> Bootstrap {
        Bootstrap(instance: 0, schedule: [ScheduleEntry(from: 1, members: [me])], watermarks: [:])
    }
}

/// Tunables, in nanoseconds and counts. Defaults suit a LAN or loopback cluster.
public struct ConsensusOptions: Sendable {
    /// Instances between a membership change and its effect; also the pipeline depth.
    public var alpha: Int64 = 50
    /// Leader heartbeat (commit announcement) and retransmission interval.
    public var heartbeatInterval: Int64 = 20_000_000
    /// A follower that hears nothing from its leader for this long (randomised up to twice
    /// as long) stands for election.
    public var electionTimeout: Int64 = 150_000_000
    /// An own proposal not applied after this long is handed to the leader again.
    public var forwardTimeout: Int64 = 400_000_000
    /// A learner re-asks for entries no sooner than this.
    public var fetchInterval: Int64 = 10_000_000
    /// A slave asks its upstream for entries at least this often while it hears nothing.
    public var followerKeepalive: Int64 = 250_000_000
    /// A follower that stopped fetching is no longer pushed entries after this long.
    public var followerExpiry: Int64 = 3_000_000_000
    public var maxBatchBytes = 1 << 20
    /// Payload bytes the leader has in undecided instances at most (beyond the one batch that
    /// crosses it), so votes, and promises reporting them, stay bounded.
    public var maxInflightBytes = 8 << 20
    /// The same bound for the batches of fewer than `streamedBatchBytes` (sent in datagrams).
    public var maxInflightDatagramBytes = Int.max
    /// Batches of at least this many payload bytes travel on the host's streams, not in
    /// datagrams; `.max`: the host has no streams.
    public var streamedBatchBytes = Int.max
    public var maxBatchProposals = 4096
    public var maxQueueBytes = 64 << 20
    public var maxPending = 65_536
    public var maxVotes = 4096
    public var maxEarly = 4096
    /// Decided instances kept for learners that fell behind, by count and by memory held;
    /// one further behind needs a snapshot.
    public var retainedInstances = 4096
    public var retainedBytes = 16 << 20
    public var fetchLimit = 256
    public var fetchBytes = 4 << 20
    /// The host keeps durable state (`-data`): consensus outputs `persist` for every change.
    public var durable = false
    /// Own `seq`s reserved by one `persist(.seqReserved)`.
    public var seqReservation: UInt64 = 65_536

    public init() {}
}

/// The leader's state for one instance in flight.
struct LeaderSlot {
    let batch: Batch
    /// Payload bytes of `batch`.
    let bytes: Int
    var acks = AckSet()
    var chosen = false
    var sentAt: Int64

    init(batch: Batch, sentAt: Int64) {
        self.batch = batch
        bytes = batch.reduce(0) { $0 + $1.payload.count }
        self.sentAt = sentAt
    }
}

/// The members that voted for one instance, by position in that instance's member set. The
/// set is sorted and fixed once the instance is proposed (a change takes effect α instances
/// after it is applied, past every instance in flight), so positions name the same peers for
/// the slot's whole life. The first 64 positions are bits of one word: recording a vote
/// allocates nothing. Larger member sets keep the rest in an array.
struct AckSet {
    private var word: UInt64 = 0
    private var beyond: [Int] = []
    private(set) var count = 0

    func contains(_ position: Int) -> Bool {
        position < 64 ? word & (1 << UInt64(position)) != 0 : beyond.contains(position)
    }

    /// Records `position`; false if it was recorded already.
    mutating func insert(_ position: Int) -> Bool {
        guard !contains(position) else { return false }
        if position < 64 { word |= 1 << UInt64(position) } else { beyond.append(position) }
        count += 1
        return true
    }
}

/// An own proposal not applied yet.
struct PendingProposal {
    var tag: UInt64
    var payload: [UInt8]
    var handedAt: Int64?
}

/// The last decided entries, at most `keep` of them and about `bytes` of payload, for learners
/// that fell behind. The newest is always kept, and so is every entry the host has not applied
/// yet (`appliedWatermarks` advance from them; a host applies within one sync of its disk).
struct DecidedLog {
    private var entries: [DecidedEntry] = []
    private var head = 0
    private var payloadBytes = 0
    /// The first instance still kept (one past the last when empty).
    private(set) var first: Int64 = 1

    mutating func reset(after instance: Int64) {
        entries = []
        head = 0
        payloadBytes = 0
        first = instance + 1
    }

    subscript(instance: Int64) -> DecidedEntry { entries[head + Int(instance - first)] }

    mutating func append(_ entry: DecidedEntry, keep: Int, bytes: Int, applied: Int64) {
        entries.append(entry)
        payloadBytes += Self.size(entry)
        while first <= applied && entries.count - head > 1 && (entries.count - head > keep || payloadBytes > bytes) {
            payloadBytes -= Self.size(entries[head])
            head += 1
            first += 1
        }
        if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// Memory an entry holds: its payloads plus what each proposal costs besides (its array's
    /// header and the proposal's fields), so small writes count for what they occupy.
    private static func size(_ entry: DecidedEntry) -> Int {
        entry.batch.reduce(64) { $0 + $1.payload.count + 64 }
    }
}

/// SplitMix64: a small, fast, seedable generator; the only randomness consensus uses.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
