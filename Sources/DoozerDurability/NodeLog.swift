import DoozerConsensus
import DoozerLog
import DoozerSnapshot
import DoozerStore
import DoozerSystem
import Logging

/// A durable node's data directory (`-data`): holds its lock, its `RecordLog` (`log/`) and its
/// snapshot files (`snapshots/`). Writes the node's identity, every decided batch and every
/// change of consensus's durable state (`Output.persist`) as records — in the order consensus's
/// `Outbox` appends them, which also decides when each batch may be applied — and every N
/// records or M bytes writes a snapshot of the store and compacts the log behind it. It never
/// applies or answers anything.
///
/// **Recovery** (`init`) is "newest usable snapshot, then the log after it": a first pass over
/// the log collects the identity, the snapshot records (`SnapshotRecord`) and the durable
/// changes (`Recovered.durable`, with the base record's); the newest
/// snapshot whose file reads back whole, at the record's revision, and whose covered prefix
/// the log still follows without a gap becomes the store; a second pass replays the decided
/// records after it, which must continue its instance without a gap. A damaged snapshot file
/// is reported (file, byte, what was expected) and the next older one tried; without one, the
/// log must still start at its first record (and no `-restore` tree be lost), else the node
/// refuses to start. The caller follows along (`Replayed`) to rebuild consensus. A member's
/// copied state (`startInstall`, `recordInstall`) is a snapshot like the node's own.
///
/// **Snapshots.** `snapshotIfDue` takes the store's O(1) snapshot at the last applied batch
/// (instance I, record index C) and hands it to the `SnapshotWorker` thread, which writes
/// `snapshots/<R>.dzsnap` (tmp, fsync, rename, directory fsync). Only then is the snapshot
/// record appended; only once that record is durable are the log segments through the
/// previous kept snapshot's C removed and every other file in `snapshots/` deleted. Two
/// snapshots are kept, so a damaged newest file falls back to the one before it, whose log
/// records are still there — except across an install (a member's copy supersedes the log
/// before it: a damaged install file leaves a gap, and recovery refuses). One snapshot cycle
/// (write, record, removal) runs at a time.
///
/// Memory: the two kept snapshot records; the worker holds one immutable store snapshot.
package final class NodeLog {
    /// What replaying the directory found.
    package struct Recovered {
        package var identity: Identity?
        /// The store: the base snapshot's tree (or empty) with every later decided batch applied.
        package var store: Store
        /// The snapshot the store started from, if any.
        package var base: SnapshotRecord?
        /// The last consensus instance the store includes (-1: none, not even the layout).
        package var lastInstance: Int64 = -1
        /// Records in the log, and decided batches replayed on top of the base.
        package var records = 0
        package var replayed = 0
        /// Whether the seed's start-up layout is in the store: the node resumes instead of seeding.
        package var hasLayout: Bool { lastInstance >= 0 }
        /// Consensus's durable state: the base snapshot record's, with every change record in
        /// the log noted on top (in any order: promises and reservations only grow, a vote
        /// gives way only to one of a higher ballot).
        package var durable = DurableState()
    }

    /// What recovery hands its caller while it rebuilds the store, so consensus can follow.
    package enum Replayed {
        /// The store recovery starts from (the base snapshot's tree, or empty), with that
        /// snapshot's record and the node's identity; first, once, whenever the log names a node.
        case base(SnapshotRecord?, Store, Identity)
        /// A decided instance after the base, just applied to the store with these events.
        case decided(DecidedEntry, events: [Event])
    }

    /// When to snapshot: after this many decided records or bytes of log since the last one.
    package struct Schedule {
        package var records: Int
        package var bytes: Int

        package init(records: Int, bytes: Int) {
            self.records = records
            self.bytes = bytes
        }
    }

    private enum Cycle {
        case idle
        /// The worker writes the file of this record.
        case writing(SnapshotRecord)
        /// The worker writes the file of the state copied from a member (`startInstall`).
        case installing(SnapshotRecord)
        /// The record is appended at `index`; compaction waits for it to be durable.
        case recording(index: UInt64, SnapshotRecord)
        /// The worker removes the files no longer kept.
        case removing
    }

    package static let snapshotSuffix = ".dzsnap"

    /// Where a node log keeps its files, and who runs its blocking steps.
    package struct Disk {
        package var io: FileIO
        /// Whether the log syncs and the snapshot worker writes on threads of their own (see
        /// `LogOptions.syncThread`); off, the owner runs each step (`syncCommitted`,
        /// `runSnapshotJob`).
        package var threads: Bool
        /// The log's segment size (`LogOptions.segmentSize`); nil for the default.
        package var segmentSize: Int?

        package init(io: FileIO = .system, threads: Bool = true, segmentSize: Int? = nil) {
            self.io = io
            self.threads = threads
            self.segmentSize = segmentSize
        }
    }

    package let directory: DataDirectory
    private let io: FileIO
    package let snapshotDirectory: String
    package private(set) var recovered: Recovered
    private let log: RecordLog
    private let logger: Logger
    private let schedule: Schedule
    private let worker: SnapshotWorker
    /// The last decided record applied (`noteApplied`): the point a snapshot covers.
    private var applied: (index: UInt64, instance: Int64)
    /// The snapshots kept, oldest first (at most two), each with a durable record.
    private var kept: [SnapshotRecord]
    private var cycle = Cycle.idle
    /// Decided records and their bytes appended since the last snapshot started.
    private var sinceSnapshot = (records: 0, bytes: 0)
    private var reportedPreparationFailure = false

    package var completionFD: FileDescriptor { log.completionFD }
    package var snapshotCompletionFD: FileDescriptor { worker.completions.fd }
    /// What recovery cleared from a torn tail, as one line, if it did.
    package var tornTail: String? { log.tornTail?.description }
    /// The log's first record still on disk (segments before it were compacted away).
    package var firstIndex: UInt64 { log.firstIndex }

    /// Locks and opens `path`, recovering the store (see the notes above) and telling
    /// `replay` how. Damaged snapshot files it skips are logged, one line each.
    /// `disk`: the file system calls and whether the log and the snapshot worker run threads
    /// of their own (the simulation's disk runs their steps itself).
    package init(path: String, history: Int, historyBytes: Int, schedule: Schedule, logger: Logger,
                 disk: Disk = Disk(), replay: (Replayed) -> Void = { _ in }) throws {
        directory = try DataDirectory(path: path, io: disk.io)
        snapshotDirectory = try directory.subdirectory("snapshots")
        self.logger = logger
        self.schedule = schedule
        io = disk.io
        worker = try SnapshotWorker(io: disk.io, threaded: disk.threads)
        var options = LogOptions()
        options.syncThread = disk.threads
        options.prepareSegments = disk.threads
        if let segmentSize = disk.segmentSize { options.segmentSize = segmentSize }
        // Consensus bounds what waits here (α batches decided ahead of applying); the log's own
        // backpressure would only turn a decided batch into a failure.
        options.maxPendingBytes = Int(UInt32.max)
        var scan = FirstPass()
        log = try RecordLog(directory: try directory.subdirectory("log"), options: options, io: disk.io) { try scan.note($0) }
        if scan.records > 0 && scan.identity == nil {
            throw NodeLogError.badRecord(index: log.firstIndex, "an identity record or a snapshot record naming the node")
        }
        let (base, tree) = try Self.base(scan, firstIndex: log.firstIndex, firstPossible: options.firstIndex,
                                         directory: snapshotDirectory, io: disk.io, logger: logger)
        var recovered = Recovered(
            identity: scan.identity,
            store: tree.map { Store(history: history, historyBytes: historyBytes, restoring: $0) }
                ?? Store(history: history, historyBytes: historyBytes),
            base: base, lastInstance: base?.instance ?? -1, records: scan.records)
        recovered.durable = scan.durable
        for change in base?.durable.changes ?? [] { recovered.durable.note(change) }
        if let identity = scan.identity { replay(.base(base, recovered.store, identity)) }
        var applied = (index: base?.coveredIndex ?? 0, instance: base?.instance ?? -1)
        var since = (records: 0, bytes: 0)
        try log.read(from: applied.index + 1) { record in
            guard RecordType(rawValue: record.type) == .decided else { return }
            let entry = try Self.decodeDecided(record)
            let instance = entry.instance
            guard instance == recovered.lastInstance + 1 else {
                throw NodeLogError.gap(index: record.index, instance: instance, expected: recovered.lastInstance + 1)
            }
            let events = entry.batch.filter { $0.retiredOrigin == nil }.map { recovered.store.apply($0.payload).event }
            replay(.decided(entry, events: events))
            recovered.lastInstance = instance
            recovered.replayed += 1
            applied = (record.index, instance)
            since.records += 1
            since.bytes += RecordFormat.headerSize + record.payload.count
        }
        self.recovered = recovered
        self.applied = applied
        kept = base.map { [$0] } ?? []
        sinceSnapshot = since
    }

    /// The records the first recovery pass keeps: who the node is, and the snapshots.
    private struct FirstPass {
        var identity: Identity?
        /// In log order, so the newest is last.
        var snapshots: [SnapshotRecord] = []
        var durable = DurableState()
        var records = 0

        mutating func note(_ record: LogRecord) throws {
            records += 1
            switch RecordType(rawValue: record.type) {
            case .identity?:
                guard let identity = NodeLog.decodeIdentity(record.payload), self.identity.map({ $0 == identity }) ?? true else {
                    throw NodeLogError.badRecord(index: record.index, "an identity record that decodes and names the same node as the others")
                }
                self.identity = identity
            case .snapshot?:
                let snapshot = try SnapshotRecord.decode(record.payload, index: record.index)
                guard identity.map({ $0 == snapshot.identity }) ?? true else {
                    throw NodeLogError.badRecord(index: record.index, "a snapshot record of node \(identity!.id), as the log's other records")
                }
                identity = snapshot.identity
                snapshots.append(snapshot)
            case .decided?:
                // Replayed in the second pass, from the base on; here only its votes go.
                durable.decided(through: try NodeLog.decidedInstance(record))
            case .change?:
                durable.note(try NodeLog.decodeChange(record.payload, index: record.index))
            case nil:
                throw NodeLogError.badRecord(index: record.index, "a known record type (found \(record.type))")
            }
        }
    }

    /// The newest snapshot that can start recovery, with its tree; (nil, nil) to replay the
    /// whole log into an empty store, which is only right while the log starts at its first
    /// record and no `-restore` tree (instance -1) would be lost.
    private static func base(_ scan: FirstPass, firstIndex: UInt64, firstPossible: UInt64, directory: String,
                             io: FileIO, logger: Logger) throws(NodeLogError) -> (SnapshotRecord?, Snapshot?) {
        var problems: [String] = []
        for record in scan.snapshots.reversed() {
            let path = directory + "/" + record.file
            guard record.coveredIndex + 1 >= firstIndex else {
                problems.append("\(path) (rev \(record.rev)) is older than the log, which starts at record \(firstIndex)")
                continue
            }
            do {
                let tree = try SnapshotFile.read(path, io: io)
                guard tree.rev == record.rev else {
                    problems.append("\(path) holds rev \(tree.rev), its log record says \(record.rev)")
                    logger.error("snapshot \(path) holds rev \(tree.rev), not rev \(record.rev) as its log record says; trying an older one")
                    continue
                }
                if !problems.isEmpty { logger.notice("recovering from the older snapshot \(path) at rev \(record.rev) and the log after it") }
                return (record, tree)
            } catch {
                problems.append("\(error)")
                logger.error("snapshot unusable: \(error); trying an older one")
            }
        }
        let restoreBase = scan.snapshots.contains { $0.instance < 0 }
        if firstIndex == firstPossible && !restoreBase { return (nil, nil) }
        guard !problems.isEmpty else {
            throw .unrecoverable("the log starts at record \(firstIndex), not \(firstPossible), and no snapshot record covers the records before it")
        }
        throw .unrecoverable(problems.joined(separator: "; ")
            + (restoreBase && firstIndex == firstPossible ? "; the -restore tree exists only in a snapshot"
                : "; the log starts at record \(firstIndex): the records before it are gone"))
    }

    // MARK: Writing

    /// Appends the identity record of a new node (an empty log only).
    package func recordIdentity(_ identity: Identity) throws(LogError) {
        try log.append(type: RecordType.identity.rawValue, payload: Self.encodeIdentity(identity))
        recovered.identity = identity
    }

    /// Writes `tree` (a `-restore` file's) as this new node's first snapshot, before its
    /// layout: the file, then its record, and blocks until both are durable. Start-up only,
    /// after `recordIdentity`.
    package func recordRestoredTree(_ tree: Snapshot) throws {
        let record = SnapshotRecord(file: Self.snapshotName(rev: tree.rev), rev: tree.rev, instance: -1,
                                    coveredIndex: log.nextIndex - 1, identity: recovered.identity!)
        _ = try SnapshotWorker.write(tree, to: snapshotDirectory + "/" + record.file, io: io)
        try log.append(type: RecordType.snapshot.rawValue, payload: record.payload)
        try log.flush()
        kept = [record]
        applied = (record.coveredIndex, -1)
    }

    /// Writes the state a joiner copied from a member (`tree` at `bootstrap.instance`) as this
    /// new node's first snapshot, like `recordRestoredTree`: blocks until file and record are
    /// durable. Start-up only, after `recordIdentity`.
    package func recordJoinedState(_ tree: Snapshot, _ bootstrap: Bootstrap, durable: DurableState) throws {
        let record = SnapshotRecord(file: Self.snapshotName(rev: tree.rev), rev: tree.rev, instance: bootstrap.instance,
                                    coveredIndex: log.nextIndex - 1, identity: recovered.identity!,
                                    bootstrap: bootstrap, durable: durable)
        _ = try SnapshotWorker.write(tree, to: snapshotDirectory + "/" + record.file, io: io)
        try log.append(type: RecordType.snapshot.rawValue, payload: record.payload)
        try log.flush()
        kept = [record]
        applied = (record.coveredIndex, record.instance)
        recovered.lastInstance = record.instance
    }

    /// Appends the seed's start-up layout (instance 0, proposals of `seq` 0 that move no
    /// watermark) and blocks until it and everything before it is durable. For start-up only,
    /// before the loop runs; the caller applies it.
    package func recordLayout(_ mutations: [[UInt8]], origin: PeerID) throws(LogError) {
        let batch = mutations.map { Proposal(origin: origin, seq: 0, tag: 0, payload: $0) }
        let index = try log.append(type: RecordType.decided.rawValue,
                                   payload: PeerCodec.encode(DecidedEntry(instance: 0, batch: batch)))
        try log.flush()
        applied = (index, 0)
    }

    /// Appends a decided batch's record (consensus's `Outbox` calls this as the batch is
    /// decided, and hands the batch back once it may be applied); returns its index.
    package func append(_ entry: DecidedEntry) throws(LogError) -> UInt64 {
        let payload = PeerCodec.encode(entry)
        let index = try log.append(type: RecordType.decided.rawValue, payload: payload)
        sinceSnapshot.records += 1
        sinceSnapshot.bytes += RecordFormat.headerSize + payload.count
        return index
    }

    /// Appends a change of consensus's durable state; returns its index, durable once
    /// `durableIndex` reaches it.
    package func append(_ change: DurableChange) throws(LogError) -> UInt64 {
        try log.append(type: RecordType.change.rawValue, payload: PeerCodec.encode(change))
    }

    /// The decided batch of record `record` (instance `instance`) was applied: the point the
    /// next snapshot covers.
    package func noteApplied(record: UInt64, instance: Int64) {
        if instance > applied.instance { applied = (record, instance) }
    }

    /// The highest record index on stable storage (as of the last `reapCompletions`).
    package var durableIndex: UInt64 { log.durableIndex }
    /// The index of the last record appended.
    package var lastIndex: UInt64 { log.nextIndex - 1 }

    /// Blocks until everything appended is durable: at shutdown, after the loop stopped. A
    /// snapshot still being written is not waited for: without its record it is never used,
    /// and the next snapshot cycle removes its file.
    package func flush() throws(LogError) { try log.flush() }

    /// One line of what the log wrote since start, as `key=value` pairs (doozer-bench reads
    /// it from the log at shutdown): batches, bytes, time in fdatasync, segments by origin.
    package var trafficSummary: String { "log traffic: \(log.statistics)" }

    /// (`Disk.threads` off.) A committed batch waits for `syncCommitted`, or a started
    /// snapshot job for `runSnapshotJob`.
    package var hasCommittedBatch: Bool { log.hasCommittedBatch }
    package var hasSnapshotJob: Bool { worker.hasStartedJob }

    /// (`Disk.threads` off.) Writes and syncs what was committed, on the caller's thread; the
    /// completion is then reported through `completionFD` as the thread's would be.
    package func syncCommitted() { log.syncCommitted() }

    /// (`Disk.threads` off.) Runs the started snapshot job on the caller's thread.
    package func runSnapshotJob() { worker.runStartedJob() }

    /// Starts the sync of everything appended since the last one.
    package func commit() { log.commit() }

    /// Records were appended since the last commit.
    package var hasUncommitted: Bool { log.hasUncommitted }

    /// Why the log stopped preparing segments, the first time it is asked after that
    /// happened (the node goes on; later segments are allocated as they start).
    package func newPreparationFailure() -> LogFailure? {
        guard !reportedPreparationFailure, let failure = log.preparationFailure else { return nil }
        reportedPreparationFailure = true
        return failure
    }

    /// Takes the syncing thread's report: returns the new `durableIndex`, or throws the
    /// storage failure that stopped the log. Compacts once a snapshot record is durable.
    package func reapCompletions() throws(LogError) -> UInt64 {
        let durable = try log.reapCompletions()
        if case .recording(let index, let record) = cycle, index <= durable { compact(after: record) }
        return durable
    }

    // MARK: Snapshots

    /// Whether a snapshot cycle (write, record, removal) is under way.
    package var snapshotInProgress: Bool {
        if case .idle = cycle { return false }
        return true
    }

    /// Starts a snapshot of `tree` — the store with every batch `noteApplied` named applied,
    /// consensus's `bootstrap` at the same instance — when one is due and none is in
    /// progress.
    package func snapshotIfDue(_ tree: Snapshot, bootstrap: Bootstrap) {
        guard case .idle = cycle, !worker.isBusy,
              sinceSnapshot.records >= schedule.records || sinceSnapshot.bytes >= schedule.bytes,
              applied.index > kept.last?.coveredIndex ?? 0, tree.rev != kept.last?.rev,
              let identity = recovered.identity else { return }
        guard bootstrap.instance == applied.instance else { return }
        let record = SnapshotRecord(file: Self.snapshotName(rev: tree.rev), rev: tree.rev, instance: applied.instance,
                                    coveredIndex: applied.index, identity: identity, bootstrap: bootstrap)
        do {
            try worker.start(.write(tree, path: snapshotDirectory + "/" + record.file))
        } catch {
            return logger.error("cannot start a snapshot at rev \(tree.rev): \(error); the log keeps growing until one succeeds")
        }
        // Records from here on go to a new segment: the prefix this snapshot covers then lies
        // in whole segments that a later compaction can remove.
        log.startNewSegment()
        sinceSnapshot = (0, 0)
        cycle = .writing(record)
    }

    /// This node fell behind what its peers keep and copied a member's state (`tree` at
    /// `bootstrap.instance`): the worker writes it as a snapshot file first, and
    /// `snapshotJobDone` hands the record back for `recordInstall`. Nothing is installed until
    /// then, so no decided record can land before the install's. Only while no snapshot
    /// cycle runs (`snapshotInProgress`: false otherwise); throws when the worker cannot start.
    package func startInstall(_ tree: Snapshot, _ bootstrap: Bootstrap) throws(SystemError) -> Bool {
        guard case .idle = cycle, !worker.isBusy, let identity = recovered.identity else { return false }
        let record = SnapshotRecord(file: Self.snapshotName(rev: tree.rev), rev: tree.rev, instance: bootstrap.instance,
                                    coveredIndex: 0, identity: identity, bootstrap: bootstrap)
        try worker.start(.write(tree, path: snapshotDirectory + "/" + record.file))
        cycle = .installing(record)
        return true
    }

    /// The worker is writing the file of a state copied from a member.
    package var isInstalling: Bool {
        if case .installing = cycle { return true }
        return false
    }

    /// Appends the record of an install whose file is written (from `snapshotJobDone`), with
    /// consensus's `durable` state: every record before it is superseded. Returns its index:
    /// nothing that depends on the install may leave the node before it is durable.
    package func recordInstall(_ record: SnapshotRecord, durable: DurableState) throws(LogError) -> UInt64 {
        var record = record
        record.durable = durable
        log.startNewSegment()
        record.coveredIndex = log.nextIndex - 1
        let index = try log.append(type: RecordType.snapshot.rawValue, payload: record.payload)
        cycle = .recording(index: index, record)
        applied = (record.coveredIndex, record.instance)
        recovered.lastInstance = record.instance
        sinceSnapshot = (0, 0)
        return index
    }

    /// The worker finished a job (its eventfd fired): a written file gets its record, with
    /// consensus's `durable` state now; a failed write is logged and retried after the next N
    /// records or M bytes. A written install is handed back for `recordInstall` (or dropped by
    /// the caller, its file removed by the next cycle). Throws only when the log refuses the
    /// record (the log failed: the node stops).
    @discardableResult
    package func snapshotJobDone(durable: DurableState) throws(LogError) -> SnapshotRecord? {
        guard let outcome = worker.reap() else { return nil }
        switch (cycle, outcome) {
        case (.installing(let record), .wrote):
            cycle = .idle
            return record
        case (.installing(let record), .failed(let problem)):
            cycle = .idle
            logger.error("writing the state copied at rev \(record.rev) failed: \(problem); catching up again when next asked")
        case (.writing(var record), .wrote(let bytes)):
            record.durable = durable
            let index = try log.append(type: RecordType.snapshot.rawValue, payload: record.payload)
            cycle = .recording(index: index, record)
            logger.info("snapshot at rev \(record.rev) written: \(snapshotDirectory)/\(record.file), \(bytes) bytes; log record \(index)")
        case (.writing(let record), .failed(let problem)):
            cycle = .idle
            logger.error("snapshot at rev \(record.rev) failed: \(problem); the log keeps every record until one succeeds")
        case (.removing, .failed(let problem)):
            cycle = .idle
            logger.error("\(problem); the files are removed at the next snapshot")
        case (.removing, .removed):
            cycle = .idle
        case (.idle, _), (.recording, _), (.writing, .removed), (.removing, .wrote), (.installing, .removed):
            assertionFailure("snapshot job outcome \(outcome) in cycle \(cycle): one job at a time, started by the cycle")
        }
        return nil
    }

    /// `record` is durable: it joins the kept snapshots (the newest two), the log segments
    /// the older kept one covers go, and the worker deletes every other snapshot file.
    private func compact(after record: SnapshotRecord) {
        kept.append(record)
        if kept.count > 2 { kept.removeFirst(kept.count - 2) }
        if kept.count == 2 { log.removeSegments(through: kept[0].coveredIndex) }
        cycle = .removing
        do {
            try worker.start(.remove(directory: snapshotDirectory, keeping: Set(kept.map(\.file))))
        } catch {
            cycle = .idle
            logger.error("cannot remove superseded snapshots: \(error); the files are removed at the next snapshot")
        }
    }

    /// Snapshot files are named by their revision: twenty digits, so names sort by it.
    package static func snapshotName(rev: Int64) -> String {
        let digits = String(rev)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + snapshotSuffix
    }
}

/// A data directory this build cannot recover from; the node refuses to start.
package enum NodeLogError: Error, CustomStringConvertible {
    case badRecord(index: UInt64, String)
    /// A decided record does not continue the instances before it: records are missing.
    case gap(index: UInt64, instance: Int64, expected: Int64)
    /// No snapshot and log prefix give a complete store; the reasons, in one line.
    case unrecoverable(String)
    /// The directory belongs to another cluster than `-c` names.
    case otherCluster(path: String, recorded: String, requested: String)
    /// `-restore` names a directory that already holds a node.
    case notEmpty(path: String, id: NodeID, clusterName: String)

    package var description: String {
        switch self {
        case .badRecord(let index, let expected):
            "node log record \(index) is not usable: expected \(expected)"
        case .gap(let index, let instance, let expected):
            "node log record \(index) holds decided instance \(instance), expected \(expected): the log is missing batches"
        case .unrecoverable(let reasons):
            "cannot recover the store: \(reasons) (see the README's Durability section: Repair)"
        case .otherCluster(let path, let recorded, let requested):
            "data directory \(path) belongs to cluster \(recorded), not \(requested) (-c)"
        case .notEmpty(let path, let id, let name):
            "cannot restore (-restore) into data directory \(path): it already holds node \(id) of cluster \(name); name a new or empty directory"
        }
    }
}

extension NodeLog: OutboxLog {}
