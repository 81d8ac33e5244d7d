// DoozerLog: the durable, segmented, append-only record log with group commit.
//
// **Layout.** A log directory holds segment files named by the index of their first record
// (`00000000000000000001.log`, twenty digits, so names sort in index order). A segment starts
// with a 32-byte `SegmentHeader` (magic, format version, first index, CRC32C), then records
// back to back (`RecordFormat`: length, type, CRC32C over length, type and payload; all
// little-endian). Segments are preallocated to `LogOptions.segmentSize` with fallocate; a
// record that does not fit in the rest of the newest segment starts a new one. Indexes are
// consecutive across segments: record `k` of a segment has index `firstIndex + k`.
//
// **Group commit.** `append` only encodes into memory: no I/O, no blocking. `commit`, called
// once per event-loop iteration, hands everything appended since the last batch to one
// syncing thread, which pwrites it, fdatasyncs it and signals `completionFD` (an eventfd the
// loop polls); `reapCompletions` then advances `durableIndex`. At most one batch is in flight;
// appends made meanwhile wait in memory for the next one.
//
// **Invariants.**
// - `durableIndex` only grows, and only to the last index of a batch after every write,
//   fdatasync and directory fsync of that batch returned success. Nothing at or below it is
//   lost by a crash; nothing above it may be acknowledged.
// - A segment is fdatasynced before the next one is created, and a created segment's
//   directory entry is fsynced before its records count as durable. So only the newest
//   segment can end in a torn write.
// - The first failure of a storage call on the write path (EIO, ENOSPC, anything but EINTR,
//   which is retried; a short write is continued) fails the log for good: it is reported with
//   the call, the errno and the file, `durableIndex` never moves again, and `append` refuses.
//   A failed fdatasync is never retried: the kernel may have dropped the dirty pages.
//
// **Recovery** (`init`) reads every segment in order and validates headers, checksums and the
// continuity of indexes. Damage at the very end of the newest segment with no valid record
// after it — a partial record, a bad checksum, a segment whose header never completed — is a
// torn tail: it is cleared (zeroed and synced; an unfinished segment is removed) and reported
// once in `recovery.tornTail`. Any other damage throws `LogError.corrupt` with the file, the
// byte offset and what was expected there: the log refuses to open rather than drop records
// that may have been acknowledged. (A power cut that persists a later page of the final
// unsynced batch but not an earlier one also reads as corruption: the log cannot tell it
// apart from damage to synced records, so it errs towards refusing.)
//
// **Bounds.** Appended-but-not-durable bytes (waiting plus in flight) are capped by
// `LogOptions.maxPendingBytes`: past it `append` throws `.pendingLimit` and appends nothing
// (backpressure: the caller stops taking work until a completion). One record may exceed the
// cap when nothing else is pending, so any record that fits a segment can be written. At most
// one batch is in flight; the syncing thread holds no queue of its own.
//
// Removing the prefix a snapshot covers (`removeSegments(through:)`) deletes whole durable
// segments, never the newest, on the syncing thread after the next batch. `startNewSegment`
// lets a caller end a segment early (at a snapshot), so that prefix lies in whole segments.
// `read(from:visit:)` reads durable records back from disk, for a caller that must see the
// whole log (`init`'s replay) before it knows where to start applying.
import DoozerSystem

/// Tunables of a `RecordLog`.
public struct LogOptions: Sendable {
    /// Size each segment file is preallocated to; also the largest record plus headers.
    public var segmentSize: Int = 64 << 20
    /// Bound on appended bytes not yet durable (see `LogError.pendingLimit`).
    public var maxPendingBytes: Int = 64 << 20
    /// The index of the first record when the directory holds no segment.
    public var firstIndex: UInt64 = 1

    public init() {}

    /// The largest payload one record may carry.
    public var maxPayload: Int { segmentSize - SegmentHeader.size - RecordFormat.headerSize }

    func validate() throws(LogError) {
        if segmentSize < 4096 || segmentSize > Int(UInt32.max) {
            throw .invalidOptions("segment size \(segmentSize) must be between 4096 bytes and 4 GiB")
        }
        if maxPendingBytes < 1 { throw .invalidOptions("the pending limit must be at least 1 byte") }
        if firstIndex < 1 { throw .invalidOptions("the first index must be at least 1") }
    }
}

/// The durable record log of one directory (see the notes at the top of this file for the
/// format and its invariants). Owns the segment files, the pending batch and the syncing thread.
///
/// Every method must be called from one thread — the event loop's; it never blocks there
/// except in `flush` and `close`. It must never report an index durable before the fdatasync
/// that covers it returned.
public final class RecordLog {
    public let options: LogOptions
    /// What recovery repaired, if anything: one line for the caller to log.
    public let tornTail: TornTail?
    /// Register for readability with the event loop; call `reapCompletions` when ready.
    public var completionFD: FileDescriptor { syncer.completions.fd }

    /// The highest index known to be on stable storage (recovered records count as durable).
    public private(set) var durableIndex: UInt64
    /// The index the next `append` returns.
    public private(set) var nextIndex: UInt64
    /// The failure that stopped the log, if one did.
    public private(set) var failure: LogFailure?
    /// Appended bytes not yet durable: waiting for a commit plus the batch in flight.
    public var pendingBytes: Int { waitingBytes + inFlightBytes }
    /// The index of the oldest record still on disk (or `nextIndex` when the log is empty).
    public var firstIndex: UInt64 { segments.first?.firstIndex ?? nextIndex }

    private let directory: String
    private let io: FileIO
    private let syncer: Syncer
    private let thread: SystemThread
    private var segments: [Segment]
    private var writeOffset: Int
    private var waiting: [Chunk] = []
    private var waitingBytes = 0
    private var removals: [String] = []
    private var inFlight: Batch?
    private var inFlightBytes = 0
    private var closed = false
    /// `startNewSegment` was called: the next append opens a segment.
    private var segmentEnded = false

    /// Opens the log in `directory` (which must exist), recovering it: every record on disk
    /// is handed to `replay` in index order before this returns.
    public init(
        directory: String, options: LogOptions = LogOptions(), io: FileIO = .system,
        replay: (LogRecord) throws -> Void
    ) throws {
        try options.validate()
        let recovered = try Recovery(directory: directory, io: io).run(emptyLogFirstIndex: options.firstIndex, visit: replay)
        self.options = options
        self.directory = directory
        self.io = io
        tornTail = recovered.tornTail
        segments = recovered.segments
        writeOffset = recovered.writeOffset
        nextIndex = recovered.nextIndex
        durableIndex = recovered.nextIndex - 1
        let syncer: Syncer
        do {
            syncer = try Syncer(directory: directory, segmentSize: options.segmentSize, durableIndex: durableIndex, io: io)
            self.syncer = syncer
            thread = try SystemThread { syncer.run() }
        } catch {
            throw LogError.storage(LogFailure(error, path: directory))
        }
    }

    deinit { close() }

    /// Buffers one record and returns its index. Never does I/O; the record is durable once
    /// `durableIndex` reaches the returned index.
    @discardableResult
    public func append(type: UInt8, payload: UnsafeRawBufferPointer) throws(LogError) -> UInt64 {
        if closed { throw .closed }
        if let failure { throw .storage(failure) }
        guard payload.count <= options.maxPayload else {
            throw .recordTooLarge(bytes: payload.count, limit: options.maxPayload)
        }
        let size = RecordFormat.headerSize + payload.count
        let pending = pendingBytes
        if pending > 0 && pending + size > options.maxPendingBytes {
            throw .pendingLimit(pendingBytes: pending, limit: options.maxPendingBytes)
        }
        if segments.isEmpty || segmentEnded || writeOffset + size > options.segmentSize { startSegment() }
        let segment = segments[segments.count - 1]
        if waiting.last?.segment != segment.firstIndex {
            waiting.append(Chunk(segment: segment.firstIndex, path: segment.path, offset: writeOffset, bytes: [], creates: false))
        }
        RecordFormat.append(type: type, payload: payload, to: &waiting[waiting.count - 1].bytes)
        writeOffset += size
        waitingBytes += size
        nextIndex += 1
        return nextIndex - 1
    }

    @discardableResult
    public func append(type: UInt8, payload: [UInt8]) throws(LogError) -> UInt64 {
        try payload.withBytes { (raw) throws(LogError) in try append(type: type, payload: raw) }
    }

    /// Hands everything appended since the last batch to the syncing thread, unless a batch is
    /// still in flight (then it goes with the next commit after that one completes). Call once
    /// at the end of every event-loop iteration. Never blocks.
    public func commit() {
        guard !closed, failure == nil, inFlight == nil, !waiting.isEmpty || !removals.isEmpty else { return }
        let batch = Batch(chunks: waiting, lastIndex: nextIndex - 1, removals: removals)
        waiting = []
        removals = []
        inFlightBytes = waitingBytes
        waitingBytes = 0
        inFlight = batch
        syncer.handoff.withLock { $0.submitted = batch }
        syncer.submissions.signal()
    }

    /// Takes the syncing thread's report, if it finished a batch: returns the new
    /// `durableIndex`, or throws the failure that stopped the log. Call when `completionFD` is
    /// readable (or at any time: it never blocks).
    @discardableResult
    public func reapCompletions() throws(LogError) -> UInt64 {
        syncer.completions.consume()
        let (completed, durable, failure) = syncer.handoff.withLock { state in
            defer { state.completed = false }
            return (state.completed, state.durableIndex, state.failure)
        }
        if completed {
            inFlight = nil
            inFlightBytes = 0
            durableIndex = durable
        }
        if let failure {
            self.failure = failure
            throw .storage(failure)
        }
        return durableIndex
    }

    /// Commits and blocks until everything appended is durable, or throws the failure.
    /// For shutdown and tests — never on a running event loop.
    public func flush() throws(LogError) {
        while true {
            commit()
            try reapCompletions()
            if inFlight == nil && waiting.isEmpty && removals.isEmpty { return }
            if closed { throw .closed }
            do { try syncer.completions.wait() } catch { throw .storage(LogFailure(error, path: directory)) }
        }
    }

    /// Schedules deletion of every segment whose records all have indexes ≤ `index` and are
    /// durable; the newest segment always stays. The files go after the next batch (commit).
    /// Returns the new `firstIndex`.
    @discardableResult
    public func removeSegments(through index: UInt64) -> UInt64 {
        let limit = min(index, durableIndex)
        var count = 0
        while count + 1 < segments.count && segments[count + 1].firstIndex - 1 <= limit {
            removals.append(segments[count].path)
            count += 1
        }
        segments.removeFirst(count)
        return firstIndex
    }

    /// Ends the newest segment: the next `append` starts a new one, so every record appended
    /// so far can later go with `removeSegments` without taking newer ones along. Costs one
    /// segment file (preallocated) per call that is followed by an append.
    public func startNewSegment() {
        if !segments.isEmpty { segmentEnded = true }
    }

    /// Reads back, in index order, every record with index ≥ `index` from disk — checksums
    /// validated again; any damage is `LogError.corrupt` — and hands it to `visit`. Blocks:
    /// for start-up, while nothing appended is waiting or in flight (so every record read is
    /// durable). Throws `.closed` after `close`.
    public func read(from index: UInt64, visit: (LogRecord) throws -> Void) throws {
        if closed { throw LogError.closed }
        precondition(waiting.isEmpty && inFlight == nil, "read(from:) while records are being written")
        try Recovery(directory: directory, io: io).read(segments, from: index, visit: visit)
    }

    /// Stops the syncing thread after the batch in flight; records never committed are
    /// dropped (they were never durable). Blocks until the thread has exited.
    public func close() {
        guard !closed else { return }
        closed = true
        syncer.handoff.withLock { $0.stopping = true }
        syncer.submissions.signal()
        thread.join()
    }

    private func startSegment() {
        let path = directory + "/" + SegmentName.name(firstIndex: nextIndex)
        segments.append(Segment(firstIndex: nextIndex, path: path))
        waiting.append(Chunk(segment: nextIndex, path: path, offset: 0, bytes: SegmentHeader(firstIndex: nextIndex).bytes, creates: true))
        writeOffset = SegmentHeader.size
        waitingBytes += SegmentHeader.size
        segmentEnded = false
    }
}
