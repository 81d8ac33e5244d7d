/// The peer protocol's byte encoding (one `Message` per frame; the transport frames and
/// authenticates). Versioned by the transport's header, not here.
///
///     message  = kind:u8 body
///     ballot   = round:uvarint leader:u64le
///     int      = uvarint (instances and revisions are never negative on the wire)
///     proposal = origin:u64le seq:uvarint tag:uvarint length:uvarint payload
///     batch    = count:uvarint proposal*
///     1 prepare  ballot from:int
///     2 promise  ballot from:int decided:int count:uvarint (instance:int ballot batch)*
///     3 reject   ballot promised:ballot decided:int
///     4 accept   ballot instance:int commit:int batch
///     5 accepted ballot instance:int
///     6 commit   ballot upTo:int
///     7 forward  batch
///     8 fetch    from:int
///     9 entries  decided:int hasLeader:u8 [leader:u64le] count:uvarint (instance:int batch)*
///    10 tooOld   oldest:int
///
/// Decoding never trusts a length: every count and size is checked against the bytes left
/// before anything is allocated, so a forged frame costs at most its own size.
public enum PeerCodec {
    public static func encode(_ message: Message, into out: inout [UInt8]) {
        var w = Writer(out: out)
        out = []
        switch message {
        case .prepare(let b, let from):
            w.byte(1); w.ballot(b); w.int(from)
        case .promise(let b, let from, let decided, let accepted):
            w.byte(2); w.ballot(b); w.int(from); w.int(decided); w.uvarint(UInt64(accepted.count))
            for e in accepted { w.int(e.instance); w.ballot(e.ballot); w.batch(e.batch) }
        case .reject(let b, let promised, let decided):
            w.byte(3); w.ballot(b); w.ballot(promised); w.int(decided)
        case .accept(let b, let instance, let batch, let commit):
            w.byte(4); w.ballot(b); w.int(instance); w.int(commit); w.batch(batch)
        case .accepted(let b, let instance):
            w.byte(5); w.ballot(b); w.int(instance)
        case .commit(let b, let upTo):
            w.byte(6); w.ballot(b); w.int(upTo)
        case .forward(let proposals):
            w.byte(7); w.batch(proposals)
        case .fetch(let from):
            w.byte(8); w.int(from)
        case .entries(let decided, let leader, let entries):
            w.byte(9); w.int(decided)
            if let leader { w.byte(1); w.u64(leader.raw) } else { w.byte(0) }
            w.uvarint(UInt64(entries.count))
            for e in entries { w.int(e.instance); w.batch(e.batch) }
        case .tooOld(let oldest):
            w.byte(10); w.int(oldest)
        }
        out = w.out
    }

    /// A node's consensus state for a joiner (sent before the snapshot it belongs to):
    ///
    ///     bootstrap = instance:int count:uvarint (from:int members:uvarint peer:u64le*)*
    ///                 count:uvarint (origin:u64le seq:uvarint)*
    ///                 [count:uvarint (origin:u64le instance:int)*]      retired origins
    ///
    /// The retired origins are written only when there are some, so a bootstrap without any
    /// reads as an earlier build's.
    public static func encode(_ bootstrap: Bootstrap) -> [UInt8] {
        var w = Writer(out: [])
        w.int(bootstrap.instance)
        w.uvarint(UInt64(bootstrap.schedule.count))
        for entry in bootstrap.schedule {
            w.int(entry.from)
            w.uvarint(UInt64(entry.members.count))
            for p in entry.members { w.u64(p.raw) }
        }
        w.uvarint(UInt64(bootstrap.watermarks.count))
        for origin in bootstrap.watermarks.keys.sorted() {
            w.u64(origin.raw)
            w.uvarint(bootstrap.watermarks[origin]!)
        }
        if !bootstrap.retired.isEmpty {
            w.uvarint(UInt64(bootstrap.retired.count))
            for origin in bootstrap.retired.keys.sorted() {
                w.u64(origin.raw)
                w.int(bootstrap.retired[origin]!)
            }
        }
        return w.out
    }

    public static func decodeBootstrap(_ bytes: [UInt8]) throws(DecodeError) -> Bootstrap {
        let result: Result<Bootstrap, DecodeError> = bytes.withUnsafeBytes { raw in
            Result { () throws(DecodeError) -> Bootstrap in
                var r = Reader(bytes: raw)
                let instance = try r.int()
                var schedule: [ScheduleEntry] = []
                for _ in 0..<(try r.count(minimumBytes: 2)) {
                    let from = try r.int()
                    var members: [PeerID] = []
                    for _ in 0..<(try r.count(minimumBytes: 8)) { members.append(PeerID(raw: try r.u64())) }
                    schedule.append(ScheduleEntry(from: from, members: members))
                }
                var watermarks: [PeerID: UInt64] = [:]
                for _ in 0..<(try r.count(minimumBytes: 9)) { watermarks[PeerID(raw: try r.u64())] = try r.uvarint() }
                var retired: [PeerID: Int64] = [:]
                if r.offset < raw.count {
                    for _ in 0..<(try r.count(minimumBytes: 9)) { retired[PeerID(raw: try r.u64())] = try r.int() }
                }
                guard r.offset == raw.count else { throw r.error("end of bootstrap") }
                guard !schedule.isEmpty, schedule.allSatisfy({ !$0.members.isEmpty }) else { throw r.error("member schedule") }
                // The members of every instance after `instance` must be known (an earlier
                // build could prune the schedule past them: such a state cannot be trusted).
                guard schedule[0].from <= instance + 1 else {
                    throw r.error("member schedule starting at instance \(schedule[0].from), after \(instance + 1)")
                }
                return Bootstrap(instance: instance, schedule: schedule, watermarks: watermarks, retired: retired)
            }
        }
        return try result.get()
    }

    public static func encode(_ message: Message) -> [UInt8] {
        var out: [UInt8] = []
        encode(message, into: &out)
        return out
    }

    /// A frame that is not exactly one well-formed message.
    public struct DecodeError: Error, Equatable, Sendable {
        public let offset: Int
        public let reason: String
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Message {
        var r = Reader(bytes: bytes)
        let message: Message
        switch try r.byte() {
        case 1:
            message = .prepare(ballot: try r.ballot(), from: try r.int())
        case 2:
            let b = try r.ballot(), from = try r.int(), decided = try r.int()
            let count = try r.count(minimumBytes: 11)
            var accepted: [AcceptedEntry] = []
            accepted.reserveCapacity(count)
            for _ in 0..<count {
                accepted.append(AcceptedEntry(instance: try r.int(), ballot: try r.ballot(), batch: try r.batch()))
            }
            message = .promise(ballot: b, from: from, decided: decided, accepted: accepted)
        case 3:
            message = .reject(ballot: try r.ballot(), promised: try r.ballot(), decided: try r.int())
        case 4:
            let b = try r.ballot(), instance = try r.int(), commit = try r.int()
            message = .accept(ballot: b, instance: instance, batch: try r.batch(), commit: commit)
        case 5:
            message = .accepted(ballot: try r.ballot(), instance: try r.int())
        case 6:
            message = .commit(ballot: try r.ballot(), upTo: try r.int())
        case 7:
            message = .forward(try r.batch())
        case 8:
            message = .fetch(from: try r.int())
        case 9:
            let decided = try r.int()
            let leader: PeerID?
            switch try r.byte() {
            case 0: leader = nil
            case 1: leader = PeerID(raw: try r.u64())
            default: throw r.error("leader flag")
            }
            let count = try r.count(minimumBytes: 2)
            var entries: [DecidedEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(DecidedEntry(instance: try r.int(), batch: try r.batch())) }
            message = .entries(decided: decided, leader: leader, entries)
        case 10:
            message = .tooOld(oldest: try r.int())
        default:
            throw r.error("message kind")
        }
        guard r.offset == bytes.count else { throw r.error("end of message") }
        return message
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Message {
        let result: Result<Message, DecodeError> = bytes.withUnsafeBytes { raw in
            Result { () throws(DecodeError) -> Message in try decode(raw) }
        }
        return try result.get()
    }

    struct Writer {
        var out: [UInt8]

        mutating func byte(_ b: UInt8) { out.append(b) }

        mutating func uvarint(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }

        mutating func int(_ v: Int64) { uvarint(UInt64(max(0, v))) }

        mutating func u64(_ v: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
        }

        mutating func ballot(_ b: Ballot) { uvarint(b.round); u64(b.leader.raw) }

        mutating func batch(_ batch: Batch) {
            uvarint(UInt64(batch.count))
            for p in batch {
                u64(p.origin.raw)
                uvarint(p.seq)
                uvarint(p.tag)
                uvarint(UInt64(p.payload.count))
                out.append(contentsOf: p.payload)
            }
        }
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ what: String) -> DecodeError { DecodeError(offset: offset, reason: "bad \(what)") }

        mutating func byte() throws(DecodeError) -> UInt8 {
            guard offset < bytes.count else { throw error("length: truncated") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func uvarint() throws(DecodeError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try byte()
                if shift == 63 && b > 1 { throw error("varint: overflow") }
                value |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return value }
                shift += 7
                if shift > 63 { throw error("varint: too long") }
            }
        }

        mutating func int() throws(DecodeError) -> Int64 {
            let v = try uvarint()
            guard v <= UInt64(Int64.max) else { throw error("integer: out of range") }
            return Int64(v)
        }

        mutating func u64() throws(DecodeError) -> UInt64 {
            guard bytes.count - offset >= 8 else { throw error("length: truncated") }
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
            offset += 8
            return v
        }

        mutating func ballot() throws(DecodeError) -> Ballot {
            Ballot(round: try uvarint(), leader: PeerID(raw: try u64()))
        }

        /// A count of items that each take at least `minimumBytes`, checked against what is left.
        mutating func count(minimumBytes: Int) throws(DecodeError) -> Int {
            let n = try uvarint()
            guard n <= UInt64((bytes.count - offset) / minimumBytes) else { throw error("count: exceeds frame") }
            return Int(n)
        }

        mutating func batch() throws(DecodeError) -> Batch {
            let count = try count(minimumBytes: 11)
            var batch: Batch = []
            batch.reserveCapacity(count)
            for _ in 0..<count {
                let origin = PeerID(raw: try u64())
                let seq = try uvarint(), tag = try uvarint()
                let length = try uvarint()
                guard length <= UInt64(bytes.count - offset) else { throw error("payload length: exceeds frame") }
                let end = offset + Int(length)
                let payload = Array(bytes[offset..<end])
                offset = end
                batch.append(Proposal(origin: origin, seq: seq, tag: tag, payload: payload))
            }
            return batch
        }
    }
}
