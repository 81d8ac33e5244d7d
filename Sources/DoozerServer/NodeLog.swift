import DoozerConsensus
import DoozerLog
import DoozerSystem

/// A durable node's log (`-data DIR`): holds the data directory's lock and its `RecordLog`,
/// writes the node's identity and every decided batch as records, and keeps each batch in
/// memory until the fdatasync that covers it returned. It never applies or answers anything:
/// `takeDurable` hands the batches back, in decided order, once they may be applied — so no
/// client sees or is told of a write a crash could still lose.
///
/// Records: `identity` (once, first: the node id and the cluster name) and `decided` (an
/// instance, then the batch's mutations; instance 0 is the seed's start-up layout). Memory:
/// at most the batches consensus lets this node decide ahead of applying (α of them).
final class NodeLog {
    enum RecordType: UInt8 {
        case identity = 1
        case decided = 2
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
    private var reportedPreparationFailure = false

    var completionFD: FileDescriptor { log.completionFD }
    /// What recovery cleared from a torn tail, as one line, if it did.
    var tornTail: String? { log.tornTail?.description }

    /// Locks and opens `path`, handing every replayed mutation to `apply` in order.
    init(path: String, apply: ([UInt8]) -> Void) throws {
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
            case .decided?:
                guard recovered.identity != nil else {
                    throw NodeLogError.badRecord(index: record.index, "a batch before the identity record")
                }
                recovered.lastInstance = try Self.decode(record) { mutation in apply(mutation) }
                recovered.hasLayout = true
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

    /// Appends the seed's start-up layout (instance 0) and blocks until it and everything
    /// before it is durable. For start-up only, before the loop runs.
    func recordLayout(_ mutations: [[UInt8]]) throws(LogError) {
        try log.append(type: RecordType.decided.rawValue, payload: Self.encode(instance: 0, mutations))
        try log.flush()
    }

    /// Appends a decided batch and keeps it until `takeDurable` may hand it back.
    func hold(_ instance: Int64, _ batch: Batch) throws(LogError) {
        let index = try log.append(type: RecordType.decided.rawValue,
                                   payload: Self.encode(instance: instance, batch.lazy.map(\.payload)))
        held.append((index, instance, batch))
    }

    /// Blocks until everything appended is durable: at shutdown, after the loop stopped.
    func flush() throws(LogError) { try log.flush() }

    /// One line of what the log wrote since start, as `key=value` pairs (doozer-bench reads
    /// it from the log at shutdown): batches, bytes, time in fdatasync, segments by origin.
    var trafficSummary: String { "log traffic: \(log.statistics)" }

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

    /// Why the log stopped preparing segments, the first time it is asked after that
    /// happened (the node goes on; later segments are allocated as they start).
    func newPreparationFailure() -> LogFailure? {
        guard !reportedPreparationFailure, let failure = log.preparationFailure else { return nil }
        reportedPreparationFailure = true
        return failure
    }

    // MARK: Record payloads (little-endian: instance u64, count u32, then u32 length + bytes each)

    private static func encode(instance: Int64, _ mutations: some Collection<[UInt8]>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(12 + mutations.reduce(0) { $0 + 4 + $1.count })
        append(UInt64(bitPattern: instance), 8, to: &bytes)
        append(UInt64(mutations.count), 4, to: &bytes)
        for mutation in mutations {
            append(UInt64(mutation.count), 4, to: &bytes)
            bytes += mutation
        }
        return bytes
    }

    private static func append(_ value: UInt64, _ width: Int, to bytes: inout [UInt8]) {
        for shift in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * shift))) }
    }

    /// Hands each mutation of a `decided` record to `visit`; returns its instance.
    private static func decode(_ record: LogRecord, _ visit: ([UInt8]) -> Void) throws -> Int64 {
        var reader = Reader(bytes: record.payload)
        func bad(_ what: String) -> NodeLogError { .badRecord(index: record.index, what) }
        guard let instance = reader.integer(8), let count = reader.integer(4) else { throw bad("a batch header") }
        for _ in 0..<count {
            guard let length = reader.integer(4), let mutation = reader.bytes(Int(length)) else {
                throw bad("a mutation of the \(count) the header announces")
            }
            visit(mutation)
        }
        guard reader.isAtEnd else { throw bad("the end of the record after \(count) mutations") }
        return Int64(bitPattern: instance)
    }

    private static func identity(_ payload: [UInt8]) -> Identity? {
        guard let length = payload.first.map(Int.init), payload.count > length else { return nil }
        let name = String(decoding: payload[(1 + length)...], as: UTF8.self)
        return Identity(id: NodeID(bytes: Array(payload[1...length])), clusterName: name)
    }

    /// Bounds-checked reads from a record payload; never traps on a short one.
    private struct Reader {
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
