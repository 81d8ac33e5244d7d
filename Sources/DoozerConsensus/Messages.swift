/// A cluster node as consensus sees it: a 64-bit name the host derives from the node id
/// (`PeerID(nodeID:)`), the same on every node. Consensus never learns addresses.
public struct PeerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: UInt64

    public init(raw: UInt64) { self.raw = raw }

    /// The peer of a node id string (e.g. `ZNGYLV7L7U76RIEE`): FNV-1a over its bytes, so every
    /// node derives the same peer from the `/ctl/cal` bodies it reads.
    public init(nodeID: some Collection<UInt8>) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in nodeID {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        raw = hash
    }

    public static func < (a: PeerID, b: PeerID) -> Bool { a.raw < b.raw }
    public var description: String { "peer:" + String(raw, radix: 16) }
}

/// A Paxos round: ordered by `round`, ties broken by the leader's peer, so two candidates
/// never share a ballot. `zero` is below every real ballot.
public struct Ballot: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var round: UInt64
    public var leader: PeerID

    public init(round: UInt64, leader: PeerID) {
        self.round = round
        self.leader = leader
    }

    public static let zero = Ballot(round: 0, leader: PeerID(raw: 0))

    public static func < (a: Ballot, b: Ballot) -> Bool {
        a.round != b.round ? a.round < b.round : a.leader < b.leader
    }

    public var description: String { "\(round)/\(String(leader.raw, radix: 16))" }
}

/// One client write (or internal write) on its way to a revision: the node that proposed it,
/// that node's sequence number, the host's tag for answering it, and the opaque payload (a
/// §3.4 mutation for the server).
///
/// `seq` orders an origin's proposals for de-duplication: a proposal is applied only if its
/// `seq` is above every `seq` of its origin applied before, so one that reaches the log twice
/// (re-sent after a timeout or a leader change) is applied once. `tag` is the origin's own
/// name for the write and survives re-sending under a new `seq`.
public struct Proposal: Equatable, Sendable {
    public var origin: PeerID
    public var seq: UInt64
    public var tag: UInt64
    public var payload: [UInt8]

    public init(origin: PeerID, seq: UInt64, tag: UInt64, payload: [UInt8]) {
        self.origin = origin
        self.seq = seq
        self.tag = tag
        self.payload = payload
    }
}

extension Proposal {
    /// The origin of retirement markers: no node's (a node id hashing to 0 is as likely as any
    /// other 64-bit collision).
    public static let retirementOrigin = PeerID(raw: 0)

    /// The leader's marker that `origin` (its node gone from `/ctl/node`) is retired: decided
    /// like any proposal, it drops the origin's watermark on every replica at the same instance
    /// (see `Admission`). Hosts apply no revision for it.
    public static func retirement(of origin: PeerID) -> Proposal {
        Proposal(origin: retirementOrigin, seq: 0, tag: 0, payload: withUnsafeBytes(of: origin.raw.littleEndian, Array.init))
    }

    /// The origin this proposal retires, when it is a retirement marker.
    public var retiredOrigin: PeerID? {
        guard origin == Self.retirementOrigin, payload.count == 8 else { return nil }
        return PeerID(raw: payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
    }
}

/// What one instance decides: proposals in the order they take revisions. Empty batches
/// move the instance sequence (e.g. to bring a membership change into effect) and consume
/// no revision.
public typealias Batch = [Proposal]

/// A decided instance and its batch, as served to learners that fell behind.
public struct DecidedEntry: Equatable, Sendable {
    public var instance: Int64
    public var batch: Batch

    public init(instance: Int64, batch: Batch) {
        self.instance = instance
        self.batch = batch
    }
}

/// An acceptor's vote for one instance, reported to a candidate in a promise.
public struct AcceptedEntry: Equatable, Sendable {
    public var instance: Int64
    public var ballot: Ballot
    public var batch: Batch

    public init(instance: Int64, ballot: Ballot, batch: Batch) {
        self.instance = instance
        self.ballot = ballot
        self.batch = batch
    }
}

/// The peer protocol. Every message travels between two peers of one cluster; the sender is
/// the transport's business (an authenticated source), never a field a forger could set.
public enum Message: Equatable, Sendable {
    /// Phase 1a: a candidate asks for a promise covering every instance ≥ `from`.
    case prepare(ballot: Ballot, from: Int64)
    /// Phase 1b: the promise, with every vote this acceptor holds for instances ≥ `from` and
    /// how far it has decided.
    case promise(ballot: Ballot, from: Int64, decided: Int64, accepted: [AcceptedEntry])
    /// A prepare or accept refused: the acceptor promised `promised`, or (for a prepare) has
    /// decided up to `decided`, past the candidate's `from`.
    case reject(ballot: Ballot, promised: Ballot, decided: Int64)
    /// Phase 2a: the leader of `ballot` asks for a vote on `batch` at `instance`; `commit` is
    /// the leader's decided prefix.
    case accept(ballot: Ballot, instance: Int64, batch: Batch, commit: Int64)
    /// Phase 2b: a vote for `instance` in `ballot` (instance 0: a heartbeat answer).
    case accepted(ballot: Ballot, instance: Int64)
    /// The leader's decided prefix; doubles as the heartbeat.
    case commit(ballot: Ballot, upTo: Int64)
    /// Proposals handed from a member to the leader.
    case forward([Proposal])
    /// A learner asks for decided entries from `from` on.
    case fetch(from: Int64)
    /// Decided entries (in order, contiguous), the sender's decided prefix and the leader it
    /// knows of.
    case entries(decided: Int64, leader: PeerID?, [DecidedEntry])
    /// The fetch asked for instances this peer no longer keeps: a snapshot is needed.
    case tooOld(oldest: Int64)
}
