import DoozerConsensus
import DoozerLog

// The payloads of the node log's records (little-endian throughout). Decoding never traps: a
// short or malformed payload is a `NodeLogError.badRecord` naming the record.

extension NodeLog {
    package enum RecordType: UInt8 {
        /// The node id (u8 length + bytes) and the cluster name (the rest). First in a new log.
        case identity = 1
        /// One decided instance and the proposals it admitted (origin, seq, tag, mutation), as
        /// `PeerCodec.encode(DecidedEntry)`. Instance 0 is the seed's start-up layout.
        case decided = 2
        /// A snapshot file of the store is complete and durable (`SnapshotRecord`).
        case snapshot = 3
        /// A change of consensus's durable state (a promise, a vote, a `seq` reservation), as
        /// `PeerCodec.encode(DurableChange)`.
        case change = 4
    }

    /// Who the node is, as its identity record (or any snapshot record) says.
    package struct Identity: Equatable {
        package var id: NodeID
        package var clusterName: String

        package init(id: NodeID, clusterName: String) {
            self.id = id
            self.clusterName = clusterName
        }
    }

    /// What a snapshot record says: the file in `snapshots/` holds the store at revision `rev`,
    /// which includes every decided batch through `instance` (-1: none, not even the layout —
    /// the tree `-restore` started from) and so every log record through `coveredIndex`.
    /// Recovery loads the file and replays the decided records after `coveredIndex`. It also
    /// names the node, so the identity survives the removal of the log's first segment.
    ///
    /// It carries consensus's state at `instance` (`bootstrap`: the member schedule and the
    /// watermarks; absent only for a `-restore` tree) and its durable state when the record
    /// was written (`durable`: the promise, the votes above the decided prefix, the `seq`
    /// reserved), so compaction never drops a promise recorded long before.
    ///
    /// Payload: fields of tag u8, length u32, value; each tag once, in any order. This build
    /// knows tags 1–8 and refuses a record with any other, so a later build can add state as
    /// new tags without an older build silently starting without it.
    package struct SnapshotRecord: Equatable {
        package var file: String
        package var rev: Int64
        package var instance: Int64
        package var coveredIndex: UInt64
        package var identity: Identity
        package var bootstrap: Bootstrap?
        package var durable = DurableState()

        enum Tag: UInt8, CaseIterable {
            case file = 1, rev = 2, instance = 3, coveredIndex = 4, nodeID = 5, clusterName = 6
            /// `PeerCodec.encode(Bootstrap)`.
            case bootstrap = 7
            /// The durable state's `changes`, each as u32 length + `PeerCodec.encode(DurableChange)`.
            case durable = 8
        }

        package var payload: [UInt8] {
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
            if let bootstrap { field(.bootstrap, PeerCodec.encode(bootstrap)) }
            var changes: [UInt8] = []
            for change in durable.changes {
                let encoded = PeerCodec.encode(change)
                PayloadWriter.append(UInt64(encoded.count), 4, to: &changes)
                changes += encoded
            }
            field(.durable, changes)
            return bytes
        }

        /// Decodes the payload of record `index`.
        package static func decode(_ payload: [UInt8], index: UInt64) throws(NodeLogError) -> SnapshotRecord {
            func failure(_ expected: String) -> NodeLogError { .badRecord(index: index, expected) }
            var reader = PayloadReader(bytes: payload)
            var fields: [Tag: [UInt8]] = [:]
            while !reader.isAtEnd {
                guard let raw = reader.integer(1), let length = reader.integer(4), let value = reader.bytes(Int(length)) else {
                    throw failure("a whole field (tag, length, value)")
                }
                guard let tag = Tag(rawValue: UInt8(raw)) else {
                    throw failure("snapshot record fields 1–8 (found field \(raw): written by a newer doozerd?)")
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
            var record = SnapshotRecord(file: file, rev: Int64(bitPattern: rev), instance: Int64(bitPattern: instance),
                                        coveredIndex: covered,
                                        identity: Identity(id: NodeID(bytes: id), clusterName: String(decoding: name, as: UTF8.self)))
            if let bytes = fields[.bootstrap] {
                do {
                    record.bootstrap = try PeerCodec.decodeBootstrap(bytes)
                } catch {
                    throw failure("a consensus bootstrap in field 7 (\(error.reason) at byte \(error.offset))")
                }
            }
            guard record.instance < 0 || record.bootstrap?.instance == record.instance else {
                throw failure("field 7, the consensus bootstrap at instance \(record.instance)")
            }
            guard let bytes = fields[.durable] else { throw failure("field 8, consensus's durable state") }
            var changes = PayloadReader(bytes: bytes)
            while !changes.isAtEnd {
                guard let length = changes.integer(4), let encoded = changes.bytes(Int(length)) else {
                    throw failure("whole durable changes in field 8")
                }
                record.durable.note(try NodeLog.decodeChange(encoded, index: index))
            }
            return record
        }
    }

    package static func encodeIdentity(_ identity: Identity) -> [UInt8] {
        let id = identity.id.bytes
        return [UInt8(id.count)] + id + Array(identity.clusterName.utf8)
    }

    package static func decodeIdentity(_ payload: [UInt8]) -> Identity? {
        guard let length = payload.first.map(Int.init), payload.count > length else { return nil }
        let name = String(decoding: payload[(1 + length)...], as: UTF8.self)
        return Identity(id: NodeID(bytes: Array(payload[1...length])), clusterName: name)
    }

    /// The decided entry of a `decided` record.
    package static func decodeDecided(_ record: LogRecord) throws(NodeLogError) -> DecidedEntry {
        try peerDecode(record.payload, index: record.index, "a decided instance and its proposals", PeerCodec.decodeDecided)
    }

    /// The instance of a `decided` record, without decoding its batch.
    package static func decidedInstance(_ record: LogRecord) throws(NodeLogError) -> Int64 {
        try peerDecode(record.payload, index: record.index, "a decided instance", PeerCodec.decidedInstance)
    }

    /// The durable change in a `change` record's payload (or a snapshot record's field).
    package static func decodeChange(_ payload: [UInt8], index: UInt64) throws(NodeLogError) -> DurableChange {
        try peerDecode(payload, index: index, "a durable consensus change", PeerCodec.decodeChange)
    }

    /// Decodes `payload` of record `index` with one of the peer codec's decoders; its error
    /// becomes the record's, naming what was `expected`.
    private static func peerDecode<T>(
        _ payload: [UInt8], index: UInt64, _ expected: String,
        _ decode: (UnsafeRawBufferPointer) throws(PeerCodec.DecodeError) -> T
    ) throws(NodeLogError) -> T {
        do {
            return try payload.withUnsafeBytes { raw in Result { () throws(PeerCodec.DecodeError) in try decode(raw) } }.get()
        } catch {
            throw .badRecord(index: index, "\(expected) (\(error.reason) at byte \(error.offset))")
        }
    }
}

package enum PayloadWriter {
    package static func append(_ value: UInt64, _ width: Int, to bytes: inout [UInt8]) {
        for shift in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * shift))) }
    }
}

/// Bounds-checked reads from a record payload; never traps on a short one.
package struct PayloadReader {
    package let bytes: [UInt8]
    package var offset = 0

    package var isAtEnd: Bool { offset == bytes.count }

    package mutating func integer(_ width: Int) -> UInt64? {
        guard bytes.count - offset >= width else { return nil }
        var value: UInt64 = 0
        for shift in 0..<width { value |= UInt64(bytes[offset + shift]) << (8 * shift) }
        offset += width
        return value
    }

    package mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }
}
