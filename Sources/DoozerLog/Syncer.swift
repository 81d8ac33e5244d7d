import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// Bytes for one segment file, at one offset; `start` when the segment is new (the bytes then
/// start with its header at offset 0).
struct Chunk: Sendable {
    /// The segment's first index.
    var segment: UInt64
    var path: String
    var offset: Int
    var bytes: [UInt8]
    var start: SegmentStart?
    /// With `start`: the segment before it, when it is left with room to spare (for a prepared
    /// one), is cut to where its records end, so its unused space goes and recovery reads no
    /// more of it than it holds.
    var cuts: SegmentEnd? = nil
}

/// Where a segment's records end.
struct SegmentEnd: Sendable {
    var path: String
    var offset: Int
}

/// How the syncing thread makes a new segment file.
enum SegmentStart: Sendable, Equatable {
    /// Renames the prepared file (zero-filled and synced, see `SegmentPreparer`) into place.
    case prepared
    /// Creates the file and preallocates it with fallocate.
    case allocated
}

/// Everything the commits since the syncing thread last took a batch handed over.
struct Batch: Sendable {
    var chunks: [Chunk] = []
    /// The index of the last record in `chunks`: durable once the batch completed.
    var lastIndex: UInt64
    /// Segment files to delete after the batch's records are durable.
    var removals: [String] = []
    /// The number of the last commit merged into this batch.
    var commit: UInt64

    var byteCount: Int { chunks.reduce(0) { $0 + $1.bytes.count } }

    /// Appends a later commit's batch: bytes that continue the last chunk join it, so a
    /// batch holds one chunk per segment it writes.
    mutating func merge(_ later: Batch) {
        for chunk in later.chunks {
            if chunk.start == nil, let last = chunks.last, last.segment == chunk.segment,
               last.offset + last.bytes.count == chunk.offset {
                chunks[chunks.count - 1].bytes += chunk.bytes
            } else {
                chunks.append(chunk)
            }
        }
        lastIndex = later.lastIndex
        removals += later.removals
        commit = later.commit
    }
}

/// Where the next segment's prepared file is in its life. The preparer moves it from
/// `wanted` to `ready` (or `failed`); the loop claims a ready one for a segment it starts; the
/// syncing thread renames a claimed one into place and wants the next.
enum PreparedState: Sendable {
    /// Preparation is off (`LogOptions.prepareSegments`).
    case off
    /// The preparer should make one (it is making it while it works on the file).
    case wanted
    /// Zero-filled and synced under `SegmentPreparer.fileName` (made, or found at open).
    case ready
    /// A segment the loop started will be renamed from it.
    case claimed
    /// Preparing failed; later segments are allocated as they start (reported once).
    case failed(LogFailure)
}

/// The state the loop thread, the syncing thread and the preparer share, in one `Guarded`.
/// Holds at most one batch not yet taken: commits made while the syncing thread writes merge
/// into it (bounded by `LogOptions.maxPendingBytes`, which counts it).
struct Handoff: Sendable {
    var queued: Batch?
    /// The syncing thread found nothing queued and waits: the next commit signals it.
    var idle = false
    var durableIndex: UInt64
    /// Bytes of every batch completed so far (so the loop knows what is still in flight).
    var durableBytes = 0
    /// The number of the last commit whose batch completed (or failed).
    var completedCommit: UInt64 = 0
    var failure: LogFailure?
    var prepared: PreparedState
    var statistics = LogStatistics()
    var stopping = false
}

/// What the syncing thread did since the log opened: for one line at shutdown and for the
/// benchmarks (batches per second, bytes and sync time per batch).
public struct LogStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Batches written: one pwrite per segment they touch and one fdatasync each.
    public var batches = 0
    public var bytes = 0
    /// Time spent in fdatasync and directory fsync.
    public var syncNanoseconds: Int64 = 0
    /// Segments started from a prepared file, and created and allocated as they started.
    public var preparedSegments = 0
    public var allocatedSegments = 0

    public var description: String {
        "batches=\(batches) bytes=\(bytes) sync_us=\(syncNanoseconds / 1000)"
            + " prepared_segments=\(preparedSegments) allocated_segments=\(allocatedSegments)"
    }
}

/// The syncing thread: takes the queued batch, writes it with pwrite, fdatasyncs it, reports
/// back through `completions` and takes the next one at once, without waiting for the loop.
/// Owns the descriptor of the segment being written (its `SegmentWriter`, used by the syncing
/// thread alone, or by the owner when there is no thread); shares only `Handoff`. It advances `durableIndex` only after every fdatasync (and
/// directory fsync) of a batch returned success; after the first failure it fails every later
/// batch without touching the disk, so nothing it could not persist is ever reported durable.
final class Syncer: Sendable {
    let handoff: Guarded<Handoff>
    let submissions: EventCounter
    let completions: EventCounter
    /// Wakes the preparer: a prepared file was taken, or the log stops.
    let preparations: EventCounter
    /// The segment being written: the syncing thread's (or, without one, the owner's) alone;
    /// the lock is never contended.
    private let writer: Guarded<SegmentWriter>

    init(directory: String, segmentSize: Int, durableIndex: UInt64, prepared: PreparedState, io: FileIO) throws(SystemError) {
        handoff = Guarded(Handoff(durableIndex: durableIndex, prepared: prepared))
        submissions = try EventCounter()
        completions = try EventCounter()
        preparations = try EventCounter()
        writer = Guarded(SegmentWriter(directory: directory, segmentSize: segmentSize, io: io))
    }

    /// Queues a commit's batch (merged into one not taken yet); signals the thread if it waits.
    func submit(_ batch: Batch) {
        let wake = handoff.withLock { state in
            if state.queued == nil { state.queued = batch } else { state.queued!.merge(batch) }
            defer { state.idle = false }
            return state.idle
        }
        if wake { submissions.signal() }
    }

    /// Asks both threads to finish: the syncing thread writes what is queued first.
    func stop() {
        handoff.withLock { $0.stopping = true }
        submissions.signal()
        preparations.signal()
    }

    /// The thread's body: runs until `stopping` is set and nothing is queued.
    func run() {
        while true {
            if syncQueued() { continue }
            if handoff.withLock({ $0.stopping && $0.queued == nil }) {
                writer.withLock { $0.close() }
                return
            }
            do {
                try submissions.wait()
            } catch {
                // Cannot happen short of a broken descriptor; fail rather than spin.
                handoff.withLock { state in
                    state.failure = state.failure ?? LogFailure(error, path: "the log's submission eventfd")
                }
                completions.signal()
                return
            }
        }
    }

    /// Takes the queued batch, if any, writes and syncs it (or fails it after an earlier
    /// failure, touching nothing), reports the outcome and signals `completions`. False when
    /// nothing was queued (then marked idle: the next `submit` signals `submissions`). The
    /// thread's step; without a thread (`LogOptions.syncThread` off), the owner's.
    func syncQueued() -> Bool {
        let (batch, failure) = handoff.withLock { state in
            defer { state.queued = nil }
            state.idle = state.queued == nil
            return (state.queued, state.failure)
        }
        guard let batch else { return false }
        let outcome = failure.map { Result<Void, LogFailure>.failure($0) }
            ?? writer.withLock { writer in Result { () throws(LogFailure) in try writer.write(batch) } }
        let statistics = writer.withLock { $0.statistics }
        let tookPrepared = batch.chunks.contains { $0.start == .prepared }
        handoff.withLock { state in
            state.statistics = statistics
            switch outcome {
            case .success:
                state.durableIndex = max(state.durableIndex, batch.lastIndex)
                state.durableBytes += batch.byteCount
            case .failure(let failure):
                state.failure = state.failure ?? failure
            }
            state.completedCommit = batch.commit
            if tookPrepared { state.prepared = .wanted }
        }
        completions.signal()
        if tookPrepared { preparations.signal() }
        return true
    }

    /// Closes the segment being written (the owner's, without a thread).
    func closeWriter() {
        writer.withLock { $0.close() }
    }
}

/// Writes batches to segment files in order. Keeps the order invariant recovery relies on: a
/// segment is fdatasynced before the next one is created (and, left early, cut to its records
/// only after that), so only the newest segment can end in a torn write; a new segment
/// (prepared and renamed, or created and preallocated) has its directory fsynced before the
/// batch counts as durable.
struct SegmentWriter {
    let directory: String
    let segmentSize: Int
    let io: FileIO
    private var current: (path: String, fd: FileDescriptor)?
    private var dirty = false
    private(set) var statistics = LogStatistics()

    init(directory: String, segmentSize: Int, io: FileIO) {
        self.directory = directory
        self.segmentSize = segmentSize
        self.io = io
    }

    mutating func write(_ batch: Batch) throws(LogFailure) {
        var created = false
        for chunk in batch.chunks {
            if let start = chunk.start {
                try syncCurrent()
                if let end = chunk.cuts {
                    // Either size reads the same: no sync needed before going on.
                    if current?.path != end.path {
                        close()
                        current = (end.path, try attempt(end.path) { () throws(SystemError) in try io.open(end.path, O_WRONLY, 0) })
                    }
                    let fd = current!.fd
                    try attempt(end.path) { () throws(SystemError) in try io.truncate(fd, Int64(end.offset)) }
                }
                close()
                switch start {
                case .prepared:
                    let prepared = directory + "/" + SegmentPreparer.fileName
                    try attempt(chunk.path) { () throws(SystemError) in try io.rename(prepared, chunk.path) }
                    current = (chunk.path, try attempt(chunk.path) { () throws(SystemError) in try io.open(chunk.path, O_WRONLY, 0) })
                    statistics.preparedSegments += 1
                case .allocated:
                    current = (chunk.path, try attempt(chunk.path) { () throws(SystemError) in
                        try io.open(chunk.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
                    })
                    let fd = current!.fd
                    try attempt(chunk.path) { () throws(SystemError) in try allocate(fd, segmentSize, io: io) }
                    statistics.allocatedSegments += 1
                }
                created = true
            } else if current?.path != chunk.path {
                close()
                current = (chunk.path, try attempt(chunk.path) { () throws(SystemError) in try io.open(chunk.path, O_WRONLY, 0) })
            }
            let fd = current!.fd
            try attempt(chunk.path) { () throws(SystemError) in
                try chunk.bytes.withBytes { (raw) throws(SystemError) in try io.pwriteAll(fd, raw, at: Int64(chunk.offset)) }
            }
            dirty = true
            statistics.bytes += chunk.bytes.count
        }
        try syncCurrent()
        for path in batch.removals {
            try attempt(path) { () throws(SystemError) in try io.unlink(path) }
        }
        if created || !batch.removals.isEmpty {
            let start = ProcessEnvironment.monotonicNanoseconds()
            try syncDirectory(directory, io: io)
            statistics.syncNanoseconds += ProcessEnvironment.monotonicNanoseconds() - start
        }
        statistics.batches += 1
    }

    mutating func close() {
        if let current { io.close(current.fd) }
        current = nil
        dirty = false
    }

    private mutating func syncCurrent() throws(LogFailure) {
        guard dirty, let current else { return }
        let start = ProcessEnvironment.monotonicNanoseconds()
        try attempt(current.path) { () throws(SystemError) in try io.fdatasync(current.fd) }
        statistics.syncNanoseconds += ProcessEnvironment.monotonicNanoseconds() - start
        dirty = false
    }

}

/// Allocates a whole segment up front (fallocate of `size` bytes from 0); a file system
/// without fallocate (EOPNOTSUPP) is not an error: the file then grows by writes.
func allocate(_ fd: FileDescriptor, _ size: Int, io: FileIO) throws(SystemError) {
    do {
        try io.fallocate(fd, 0, Int64(size))
    } catch where error.errno.rawValue == EOPNOTSUPP {
    } catch {
        throw error
    }
}

/// fsync of a directory: makes the files created, renamed or removed in it durable.
func syncDirectory(_ directory: String, io: FileIO) throws(LogFailure) {
    try attempt(directory) { () throws(SystemError) in
        let fd = try io.open(directory, O_RDONLY | O_DIRECTORY, 0)
        defer { io.close(fd) }
        try io.fsync(fd)
    }
}

/// Runs a storage call, naming `path` in its failure.
func attempt<T>(_ path: String, _ body: () throws(SystemError) -> T) throws(LogFailure) -> T {
    do { return try body() } catch { throw LogFailure(error, path: path) }
}
