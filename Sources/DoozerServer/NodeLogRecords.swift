import DoozerConsensus
import DoozerLog

// The payloads of the node log's records (little-endian throughout). Decoding never traps: a
// short or malformed payload is a `NodeLogError.badRecord` naming the record.

extension NodeLog {
    enum RecordType: UInt8 {
        /// The node id (u8 length + bytes) and the cluster name (the rest). First in a new log.
        case identity = 1
        /// One decided batch: instance u64, count u32, then u32 length + bytes per mutation.
        /// Instance 0 is the seed's start-up layout.
        case decided = 2
        /// A snapshot file of the store is complete and durable (`SnapshotRecord`).
        case snapshot = 3
    }

    /// Who the node is, as its identity record (or any snapshot record) says.
    struct Identity: Equatable {
        var id: NodeID
        var clusterName: String
    }

    /// What a snapshot record says: the file in `snapshots/` holds the store at revision `rev`,
    /// which includes every decided batch through `instance` (-1: none, not even the layout —
    /// the tree `-restore` started from) and so every log record through `coveredIndex`.
    /// Recovery loads the file and replays the decided records after `coveredIndex`. It also
    /// names the node, so the identity survives the removal of the log's first segment.
    ///
    /// Payload: fields of tag u8, length u32, value; each tag once, in any order. This build
    /// knows tags 1–6 and refuses a record with any other, so a later build can add state
    /// recovery needs at R (the consensus `Bootstrap`: schedule and watermarks, as
    /// `PeerCodec.encode`; acceptor promises and votes) as new tags without an older build
    /// silently starting without it.
    struct SnapshotRecord: Equatable {
        var file: String
        var rev: Int64
        var instance: Int64
        var coveredIndex: UInt64
        var identity: Identity

        enum Tag: UInt8, CaseIterable {
            case file = 1, rev = 2, instance = 3, coveredIndex = 4, nodeID = 5, clusterName = 6
        }

        var payload: [UInt8] {
            var bytes: [UInt8] = []
            func field(_ tag: Tag, _ value: [UInt8]) {
                bytes.append(tag.rawValue)
                PayloadWriter.append(UInt64(value.count), 4, to: &bytes)
                bytes += value
            }
            func integer(_ value: UInt64) -> [UInt8] {
                var out: [UInt8] = []
                PayloadWriter.append(value, 8, to: &out)
                return out
            }
            field(.file, Array(file.utf8))
            field(.rev, integer(UInt64(bitPattern: rev)))
            field(.instance, integer(UInt64(bitPattern: instance)))
            field(.coveredIndex, integer(coveredIndex))
            field(.nodeID, identity.id.bytes)
            field(.clusterName, Array(identity.clusterName.utf8))
            return bytes
        }

        /// Decodes the payload of record `index`.
        static func decode(_ payload: [UInt8], index: UInt64) throws(NodeLogError) -> SnapshotRecord {
            func failure(_ expected: String) -> NodeLogError { .badRecord(index: index, expected) }
            var reader = PayloadReader(bytes: payload)
            var fields: [Tag: [UInt8]] = [:]
            while !reader.isAtEnd {
                guard let raw = reader.integer(1), let length = reader.integer(4), let value = reader.bytes(Int(length)) else {
                    throw failure("a whole field (tag, length, value)")
                }
                guard let tag = Tag(rawValue: UInt8(raw)) else {
                    throw failure("snapshot record fields 1–6 (found field \(raw): written by a newer doozerd?)")
                }
                guard fields.updateValue(value, forKey: tag) == nil else { throw failure("field \(raw) once") }
            }
            func integer(_ tag: Tag) -> UInt64? {
                guard let value = fields[tag], value.count == 8 else { return nil }
                var reader = PayloadReader(bytes: value)
                return reader.integer(8)
            }
            guard let file = fields[.file].map({ String(decoding: $0, as: UTF8.self) }), !file.isEmpty,
                  !file.contains("/"), let rev = integer(.rev), let instance = integer(.instance),
                  let covered = integer(.coveredIndex), let id = fields[.nodeID], let name = fields[.clusterName] else {
                throw failure("fields 1–6, each well formed (file name, rev, instance, covered index, node id, cluster name)")
            }
            return SnapshotRecord(file: file, rev: Int64(bitPattern: rev), instance: Int64(bitPattern: instance),
                                  coveredIndex: covered,
                                  identity: Identity(id: NodeID(bytes: id), clusterName: String(decoding: name, as: UTF8.self)))
        }
    }

    static func encodeIdentity(_ identity: Identity) -> [UInt8] {
        let id = identity.id.bytes
        return [UInt8(id.count)] + id + Array(identity.clusterName.utf8)
    }

    static func decodeIdentity(_ payload: [UInt8]) -> Identity? {
        guard let length = payload.first.map(Int.init), payload.count > length else { return nil }
        let name = String(decoding: payload[(1 + length)...], as: UTF8.self)
        return Identity(id: NodeID(bytes: Array(payload[1...length])), clusterName: name)
    }

    static func encodeDecided(instance: Int64, _ mutations: some Collection<[UInt8]>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12 + mutations.reduce(0) { $0 + 4 + $1.count })
        PayloadWriter.append(UInt64(bitPattern: instance), 8, to: &bytes)
        PayloadWriter.append(UInt64(mutations.count), 4, to: &bytes)
        for mutation in mutations {
            PayloadWriter.append(UInt64(mutation.count), 4, to: &bytes)
            bytes += mutation
        }
        return bytes
    }

    /// The instance of a `decided` record, without decoding its mutations.
    static func decidedInstance(_ record: LogRecord) throws(NodeLogError) -> Int64 {
        var reader = PayloadReader(bytes: record.payload)
        guard let instance = reader.integer(8) else { throw .badRecord(index: record.index, "a batch header") }
        return Int64(bitPattern: instance)
    }

    /// Hands each mutation of a `decided` record to `visit`, after checking the whole record.
    static func decodeDecided(_ record: LogRecord, _ visit: ([UInt8]) -> Void) throws(NodeLogError) {
        var reader = PayloadReader(bytes: record.payload)
        func bad(_ what: String) -> NodeLogError { .badRecord(index: record.index, what) }
        guard reader.integer(8) != nil, let count = reader.integer(4) else { throw bad("a batch header") }
        var mutations: [[UInt8]] = []
        for _ in 0..<count {
            guard let length = reader.integer(4), let mutation = reader.bytes(Int(length)) else {
                throw bad("a mutation of the \(count) the header announces")
            }
            mutations.append(mutation)
        }
        guard reader.isAtEnd else { throw bad("the end of the record after \(count) mutations") }
        mutations.forEach(visit)
    }
}

enum PayloadWriter {
    static func append(_ value: UInt64, _ width: Int, to bytes: inout [UInt8]) {
        for shift in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * shift))) }
    }
}

/// Bounds-checked reads from a record payload; never traps on a short one.
struct PayloadReader {
    let bytes: [UInt8]
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    mutating func integer(_ width: Int) -> UInt64? {
        guard bytes.count - offset >= width else { return nil }
        var value: UInt64 = 0
        for shift in 0..<width { value |= UInt64(bytes[offset + shift]) << (8 * shift) }
        offset += width
        return value
    }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }
}
