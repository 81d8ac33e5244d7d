import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Bytes for one segment file, at one offset; `creates` when the segment is new (the bytes
/// then start with its header at offset 0).
struct Chunk: Sendable {
    /// The segment's first index.
    var segment: UInt64
    var path: String
    var offset: Int
    var bytes: [UInt8]
    var creates: Bool
}

/// Everything one commit hands to the syncing thread.
struct Batch: Sendable {
    var chunks: [Chunk] = []
    /// The index of the last record in `chunks`: durable once the batch completed.
    var lastIndex: UInt64
    /// Segment files to delete after the batch's records are durable.
    var removals: [String] = []
    var byteCount: Int { chunks.reduce(0) { $0 + $1.bytes.count } }
}

/// The mailbox between the loop thread and the syncing thread. Holds at most one batch (the
/// one in flight): the loop submits another only after the previous one completed.
struct Handoff: Sendable {
    var submitted: Batch?
    var completed = false
    var durableIndex: UInt64
    var failure: LogFailure?
    var stopping = false
}

/// The syncing thread: takes one batch at a time, writes it with pwrite, fdatasyncs it and
/// reports back through `completions`. Owns the descriptor of the segment being written and
/// the file I/O; shares only `Handoff`. It advances `durableIndex` only after every fdatasync
/// (and directory fsync) of a batch returned success; after the first failure it fails every
/// later batch without touching the disk, so nothing it could not persist is ever reported
/// durable.
final class Syncer: Sendable {
    let handoff: Mutex<Handoff>
    let submissions: EventCounter
    let completions: EventCounter
    private let writer: Mutex<SegmentWriter>

    init(directory: String, segmentSize: Int, durableIndex: UInt64, io: FileIO) throws(SystemError) {
        handoff = Mutex(Handoff(durableIndex: durableIndex))
        submissions = try EventCounter()
        completions = try EventCounter()
        writer = Mutex(SegmentWriter(directory: directory, segmentSize: segmentSize, io: io))
    }

    /// The thread's body: runs until `stopping` is set and no batch is left.
    func run() {
        while true {
            do {
                try submissions.wait()
            } catch {
                // Cannot happen short of a broken descriptor; fail rather than spin.
                handoff.withLock { state in
                    state.failure = state.failure ?? LogFailure(error, path: "the log's submission eventfd")
                    state.completed = true
                }
                completions.signal()
                return
            }
            let (batch, stopping) = handoff.withLock { state in
                defer { state.submitted = nil }
                return (state.submitted, state.stopping)
            }
            if let batch {
                let failure = handoff.withLock { $0.failure }
                let outcome = failure.map { Result<Void, LogFailure>.failure($0) }
                    ?? writer.withLock { writer in Result { () throws(LogFailure) in try writer.write(batch) } }
                handoff.withLock { state in
                    switch outcome {
                    case .success: state.durableIndex = max(state.durableIndex, batch.lastIndex)
                    case .failure(let failure): state.failure = state.failure ?? failure
                    }
                    state.completed = true
                }
                completions.signal()
            }
            if stopping && batch == nil {
                writer.withLock { $0.close() }
                return
            }
        }
    }
}

/// Writes batches to segment files in order. Keeps the order invariant recovery relies on: a
/// segment is fdatasynced before the next one is created, so only the newest segment can end
/// in a torn write; a created segment is preallocated and its directory fsynced before the
/// batch counts as durable.
struct SegmentWriter {
    let directory: String
    let segmentSize: Int
    let io: FileIO
    private var current: (path: String, fd: FileDescriptor)?
    private var dirty = false

    init(directory: String, segmentSize: Int, io: FileIO) {
        self.directory = directory
        self.segmentSize = segmentSize
        self.io = io
    }

    mutating func write(_ batch: Batch) throws(LogFailure) {
        var created = false
        for chunk in batch.chunks {
            if chunk.creates {
                try syncCurrent()
                close()
                current = (chunk.path, try attempt(chunk.path) { () throws(SystemError) in
                    try io.open(chunk.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
                })
                try preallocate()
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
        }
        try syncCurrent()
        for path in batch.removals {
            try attempt(path) { () throws(SystemError) in try io.unlink(path) }
        }
        if created || !batch.removals.isEmpty { try syncDirectory() }
    }

    mutating func close() {
        if let current { io.close(current.fd) }
        current = nil
        dirty = false
    }

    private mutating func syncCurrent() throws(LogFailure) {
        guard dirty, let current else { return }
        try attempt(current.path) { () throws(SystemError) in try io.fdatasync(current.fd) }
        dirty = false
    }

    /// Allocates the whole segment up front; a file system without fallocate grows it by writes.
    private func preallocate() throws(LogFailure) {
        guard let current else { return }
        do {
            try io.fallocate(current.fd, 0, Int64(segmentSize))
        } catch where error.errno.rawValue == EOPNOTSUPP {
        } catch {
            throw LogFailure(error, path: current.path)
        }
    }

    private func syncDirectory() throws(LogFailure) {
        try attempt(directory) { () throws(SystemError) in
            let fd = try io.open(directory, O_RDONLY | O_DIRECTORY, 0)
            defer { io.close(fd) }
            try io.fsync(fd)
        }
    }

    private func attempt<T>(_ path: String, _ body: () throws(SystemError) -> T) throws(LogFailure) -> T {
        do { return try body() } catch { throw LogFailure(error, path: path) }
    }
}
