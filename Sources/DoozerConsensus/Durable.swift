/// One change of a node's durable consensus state, as `Output.persist` hands it to the host.
public enum DurableChange: Equatable, Sendable {
    /// The acceptor promised every ballot below this one away.
    case promise(Ballot)
    /// The acceptor voted for a batch at an instance.
    case vote(AcceptedEntry)
    /// The proposer may use own `seq`s up to this one; a restarted run starts above it.
    case seqReserved(UInt64)
}

/// A durable node's consensus state as its log rebuilds it on restart (`note` each recorded
/// change, `decided(through:)` for each decided record met) and hands it to
/// `Consensus.restore(_:)`. Bounded like the acceptor it restores: votes only for instances
/// not decided yet (the log's decided records prune the rest as they come).
public struct DurableState: Equatable, Sendable {
    public var promised: Ballot
    public var votes: [Int64: AcceptedEntry]
    public var reservedSeq: UInt64

    public init(promised: Ballot = .zero, votes: [Int64: AcceptedEntry] = [:], reservedSeq: UInt64 = 0) {
        self.promised = promised
        self.votes = votes
        self.reservedSeq = reservedSeq
    }

    /// Takes one change into account. Order does not matter: promises and reservations only
    /// grow, and a vote gives way only to a vote of a higher ballot (an acceptor never votes
    /// below its promise), so changes may be noted as they come from several sources.
    public mutating func note(_ change: DurableChange) {
        switch change {
        case .promise(let b): promised = max(promised, b)
        case .vote(let entry):
            if let known = votes[entry.instance], known.ballot > entry.ballot { return }
            votes[entry.instance] = entry
        case .seqReserved(let seq): reservedSeq = max(reservedSeq, seq)
        }
    }

    /// Instances up to `instance` are decided: their votes can no longer matter.
    public mutating func decided(through instance: Int64) {
        if votes.keys.contains(where: { $0 <= instance }) { votes = votes.filter { $0.key > instance } }
    }

    /// The changes that re-create this state, in a fixed order: what a host writes after
    /// dropping the records that held the originals.
    public var changes: [DurableChange] {
        var result: [DurableChange] = [.promise(promised), .seqReserved(reservedSeq)]
        for instance in votes.keys.sorted() { result.append(.vote(votes[instance]!)) }
        return result
    }
}

/// The durable records' byte encoding, in the peer codec's primitives (so a vote on disk is
/// the bytes of a vote on the wire):
///
///     change  = 1 ballot | 2 instance:int ballot batch | 3 seq:uvarint
///     decided = instance:int batch
extension PeerCodec {
    public static func encode(_ change: DurableChange) -> [UInt8] {
        var w = Writer(out: [])
        switch change {
        case .promise(let b): w.byte(1); w.ballot(b)
        case .vote(let e): w.byte(2); w.int(e.instance); w.ballot(e.ballot); w.batch(e.batch)
        case .seqReserved(let seq): w.byte(3); w.uvarint(seq)
        }
        return w.out
    }

    public static func decodeChange(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> DurableChange {
        var r = Reader(bytes: bytes)
        let change: DurableChange
        switch try r.byte() {
        case 1: change = .promise(try r.ballot())
        case 2: change = .vote(AcceptedEntry(instance: try r.int(), ballot: try r.ballot(), batch: try r.batch()))
        case 3: change = .seqReserved(try r.uvarint())
        default: throw r.error("durable change kind")
        }
        guard r.offset == bytes.count else { throw r.error("end of durable change") }
        return change
    }

    public static func encode(_ entry: DecidedEntry) -> [UInt8] {
        var w = Writer(out: [])
        w.int(entry.instance)
        w.batch(entry.batch)
        return w.out
    }

    /// The instance of an encoded decided entry, without decoding its batch.
    public static func decidedInstance(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Int64 {
        var r = Reader(bytes: bytes)
        return try r.int()
    }

    public static func decodeDecided(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> DecidedEntry {
        var r = Reader(bytes: bytes)
        let entry = DecidedEntry(instance: try r.int(), batch: try r.batch())
        guard r.offset == bytes.count else { throw r.error("end of decided entry") }
        return entry
    }
}
