import DoozerConsensus
import DoozerLog
import DoozerSystem

/// A durable node's log (`-data DIR`): holds the data directory's lock and its `RecordLog`,
/// writes the node's identity and every decided batch as records, and keeps each batch in
/// memory until the fdatasync that covers it returned. It never applies or answers anything:
/// `takeDurable` hands the batches back, in decided order, once they may be applied — so no
/// client sees or is told of a write a crash could still lose.
///
/// Records: `identity` (once, first: the node id and the cluster name), `decided` (a decided
/// instance and its admitted proposals, `PeerCodec.encode(DecidedEntry)`; instance 0 is the
/// seed's start-up layout) and `change` (a change of consensus's durable state: a promise, a
/// vote, a `seq` reservation, `PeerCodec.encode(DurableChange)`). Memory: at most the batches
/// consensus lets this node decide ahead of applying (α of them).
final class NodeLog {
    enum RecordType: UInt8 {
        case identity = 1
        case decided = 2
        case change = 3
    }

    /// A record as recovery hands it over, in log order.
    enum Replayed {
        case identity(Identity)
        case decided(DecidedEntry)
        case change(DurableChange)
    }

    /// Who the node was, as its first record says.
    struct Identity: Equatable {
        var id: NodeID
        var clusterName: String
    }

    /// What replaying the directory found.
    struct Recovered {
        var identity: Identity?
        /// The last consensus instance replayed (0: only the layout, or nothing).
        var lastInstance: Int64 = 0
        var records = 0
        /// Whether the seed's start-up layout is in the log: the node resumes instead of seeding.
        var hasLayout = false
    }

    let directory: DataDirectory
    let recovered: Recovered
    private let log: RecordLog
    /// Decided batches appended but not yet durable: (record index, instance, batch).
    private var held: [(index: UInt64, instance: Int64, batch: Batch)] = []

    var completionFD: FileDescriptor { log.completionFD }
    /// What recovery cleared from a torn tail, as one line, if it did.
    var tornTail: String? { log.tornTail?.description }

    /// Locks and opens `path`, handing every record to `replay` in order.
    init(path: String, replay: (Replayed) throws -> Void) throws {
        directory = try DataDirectory(path: path)
        var options = LogOptions()
        // Consensus bounds what waits here (α batches decided ahead of applying); the log's own
        // backpressure would only turn a decided batch into a failure.
        options.maxPendingBytes = Int(UInt32.max)
        var recovered = Recovered()
        log = try RecordLog(directory: try directory.subdirectory("log"), options: options) { record in
            recovered.records += 1
            switch RecordType(rawValue: record.type) {
            case .identity?:
                guard recovered.identity == nil, let identity = Self.identity(record.payload) else {
                    throw NodeLogError.badRecord(index: record.index, "a second or undecodable identity record")
                }
                recovered.identity = identity
                try replay(.identity(identity))
            case .decided?:
                guard recovered.identity != nil else {
                    throw NodeLogError.badRecord(index: record.index, "a batch before the identity record")
                }
                let entry = try Self.decode(record) { (bytes) throws(PeerCodec.DecodeError) in try PeerCodec.decodeDecided(bytes) }
                guard entry.instance == (recovered.hasLayout ? recovered.lastInstance + 1 : 0) else {
                    throw NodeLogError.badRecord(index: record.index, "instance \(recovered.hasLayout ? recovered.lastInstance + 1 : 0), not \(entry.instance)")
                }
                recovered.lastInstance = entry.instance
                recovered.hasLayout = true
                try replay(.decided(entry))
            case .change?:
                try replay(.change(try Self.decode(record) { (bytes) throws(PeerCodec.DecodeError) in try PeerCodec.decodeChange(bytes) }))
            case nil:
                throw NodeLogError.badRecord(index: record.index, "unknown record type \(record.type)")
            }
        }
        self.recovered = recovered
    }

    /// Appends the identity record of a new node (an empty log only).
    func recordIdentity(_ identity: Identity) throws(LogError) {
        let id = identity.id.bytes
        try log.append(type: RecordType.identity.rawValue,
                       payload: [UInt8(id.count)] + id + Array(identity.clusterName.utf8))
    }

    /// Appends the seed's start-up layout (instance 0, proposals of `seq` 0 that move no
    /// watermark) and blocks until it and everything before it is durable. For start-up only,
    /// before the loop runs.
    func recordLayout(_ mutations: [[UInt8]], origin: PeerID) throws(LogError) {
        let batch = mutations.map { Proposal(origin: origin, seq: 0, tag: 0, payload: $0) }
        try log.append(type: RecordType.decided.rawValue, payload: PeerCodec.encode(DecidedEntry(instance: 0, batch: batch)))
        try log.flush()
    }

    /// Appends a decided batch and keeps it until `takeDurable` may hand it back.
    func hold(_ instance: Int64, _ batch: Batch) throws(LogError) {
        let index = try log.append(type: RecordType.decided.rawValue,
                                   payload: PeerCodec.encode(DecidedEntry(instance: instance, batch: batch)))
        held.append((index, instance, batch))
    }

    /// Appends a change of consensus's durable state; returns its index, durable once
    /// `durableIndex` reaches it.
    func persist(_ change: DurableChange) throws(LogError) -> UInt64 {
        try log.append(type: RecordType.change.rawValue, payload: PeerCodec.encode(change))
    }

    /// The highest record index on stable storage (as of the last `takeDurable`).
    var durableIndex: UInt64 { log.durableIndex }
    /// The index of the last record appended.
    var appendedIndex: UInt64 { log.nextIndex - 1 }

    /// Blocks until everything appended is durable: at shutdown, after the loop stopped.
    func flush() throws(LogError) { try log.flush() }

    /// Starts the sync of everything appended since the last one (once per loop iteration).
    func commit() { log.commit() }

    /// The held batches the log now reports durable, in order; throws the storage failure
    /// that stopped the log (nothing held is ever handed back after it).
    func takeDurable() throws(LogError) -> [(index: UInt64, instance: Int64, batch: Batch)] {
        let durable = try log.reapCompletions()
        let count = held.prefix { $0.index <= durable }.count
        guard count > 0 else { return [] }
        let released = Array(held[..<count])
        held.removeFirst(count)   // at most α batches are held
        return released
    }

    /// Decodes a record's payload with `decode`, reporting a failure as this record's.
    private static func decode<T>(_ record: LogRecord, _ decode: (UnsafeRawBufferPointer) throws(PeerCodec.DecodeError) -> T) throws -> T {
        let result = record.payload.withUnsafeBytes { raw in Result { () throws(PeerCodec.DecodeError) in try decode(raw) } }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw NodeLogError.badRecord(index: record.index, "\(error.reason) at byte \(error.offset)")
        }
    }

    private static func identity(_ payload: [UInt8]) -> Identity? {
        guard let length = payload.first.map(Int.init), payload.count > length else { return nil }
        let name = String(decoding: payload[(1 + length)...], as: UTF8.self)
        return Identity(id: NodeID(bytes: Array(payload[1...length])), clusterName: name)
    }
}

/// A record the node log holds that this build cannot use; the node refuses to start.
enum NodeLogError: Error, CustomStringConvertible {
    case badRecord(index: UInt64, String)
    /// The directory belongs to another cluster than `-c` names.
    case otherCluster(path: String, recorded: String, requested: String)

    var description: String {
        switch self {
        case .badRecord(let index, let expected):
            "node log record \(index) is not usable: expected \(expected)"
        case .otherCluster(let path, let recorded, let requested):
            "data directory \(path) belongs to cluster \(recorded), not \(requested) (-c)"
        }
    }
}
