// DoozerLog: the durable, segmented, append-only record log with group commit.
//
// **Layout.** A log directory holds segment files named by the index of their first record
// (`00000000000000000001.log`, twenty digits, so names sort in index order). A segment starts
// with a 32-byte `SegmentHeader` (magic, format version, first index, CRC32C), then records
// back to back (`RecordFormat`: length, type, CRC32C over length, type and payload; all
// little-endian). Segments are preallocated to `LogOptions.segmentSize` (zero-filled ahead of
// need, or with fallocate), so the space after the last record reads as zeros. Indexes are
// consecutive across segments: record `k` of a segment has index `firstIndex + k`.
//
// **Segments.** A record that does not fit in the rest of the newest segment starts a new one.
// With `LogOptions.prepareSegments` (the default) a second thread, the preparer, keeps the
// next segment ready ahead of need under a temporary name (`SegmentPreparer.fileName`):
// preallocated, written with zeros and fdatasynced, so a steady-state fdatasync of records
// writes no metadata: into new or fallocated (unwritten) blocks it must also persist the
// allocation — a journal commit, or without a journal the inode and extent blocks — while
// into blocks already written it only flushes the data. A new segment takes the prepared
// file when one is ready (renamed to its name); otherwise it is created and preallocated with
// fallocate. A segment that did not come from the preparer (the first one, the one recovery
// continues in, one started while preparation lagged) is left for the prepared file as soon
// as it is ready, and cut (ftruncate) to where its records end.
//
// **Group commit.** `append` only encodes into memory: no I/O, no blocking. `commit`, called
// once per event-loop iteration, hands everything appended since the last commit to one
// syncing thread, which pwrites it, fdatasyncs it and signals `completionFD` (an eventfd the
// loop polls); `reapCompletions` then advances `durableIndex`. One batch is written at a
// time; commits made meanwhile are queued, merged into one batch, which the syncing thread
// takes as soon as its fdatasync returns (it does not wait for the loop to reap).
//
// **Invariants.**
// - `durableIndex` only grows, and only to the last index of a batch after every write,
//   fdatasync and directory fsync of that batch returned success. Nothing at or below it is
//   lost by a crash; nothing above it may be acknowledged.
// - A segment is fdatasynced before the next one is created or renamed into place, and a new
//   segment's directory entry is fsynced before its records count as durable. So only the
//   newest segment can end in a torn write.
// - A prepared file becomes a segment only once every byte of it is zero and synced, so the
//   zeros after the last record hold after a crash as they do with fallocate. The preparer
//   writes it under a work name (`SegmentPreparer.workName`) and gives it the prepared name
//   only after its fdatasync, so a file by that name is whole: the next open keeps it (if it
//   has the segment size) and removes a work file, which a crash or a stop mid-way leaves
//   partial. Neither is ever read as a segment.
// - The first failure of a storage call on the write path (EIO, ENOSPC, anything but EINTR,
//   which is retried; a short write is continued) fails the log for good: it is reported with
//   the call, the errno and the file, `durableIndex` never moves again, and `append` refuses.
//   A failed fdatasync is never retried: the kernel may have dropped the dirty pages. A
//   failure while preparing does not fail the log (the file holds no record): preparation
//   stops for good, `preparationFailure` reports it once, and segments are allocated as
//   they start.
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
// **Bounds.** Appended-but-not-durable bytes (waiting, queued and being written) are capped
// by `LogOptions.maxPendingBytes`: past it `append` throws `.pendingLimit` and appends nothing
// (backpressure: the caller stops taking work until a completion). One record may exceed the
// cap when nothing else is pending, so any record that fits a segment can be written. The
// syncing thread holds one batch being written and one queued; the preparer one file.
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
    /// Whether a second thread zero-fills and syncs the next segment ahead of need (see the
    /// notes at the top of this file). Off, every segment is allocated with fallocate when the
    /// batch that starts it is written.
    public var prepareSegments = true
    /// Whether a syncing thread writes and syncs committed batches (see "Group commit" above).
    /// Off, nothing runs on its own: the owner calls `syncCommitted` to do that step on its
    /// own thread, when it chooses (the deterministic simulation's disk); segments are not
    /// prepared ahead then either.
    public var syncThread = true

    public init() {}

    /// The largest payload one record may carry.
    public var maxPayload: Int { segmentSize - SegmentHeader.size - RecordFormat.headerSize }

    func validate() throws(LogError) {
        if prepareSegments && !syncThread { throw .invalidOptions("segments are prepared ahead only with a syncing thread") }
        if segmentSize < 4096 || segmentSize > Int(UInt32.max) {
            throw .invalidOptions("segment size \(segmentSize) must be between 4096 bytes and 4 GiB")
        }
        if maxPendingBytes < 1 { throw .invalidOptions("the pending limit must be at least 1 byte") }
        if firstIndex < 1 { throw .invalidOptions("the first index must be at least 1") }
    }
}

/// The durable record log of one directory (see the notes at the top of this file for the
/// format and its invariants). Owns the segment files, the pending batch, the syncing thread
/// and the preparer.
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
    /// Why preparing segments stopped, if it did (the log goes on; see the notes above).
    public private(set) var preparationFailure: LogFailure?
    /// Whether a prepared segment is ready for the next segment the log starts: found at open,
    /// or reported by the preparer as of the last `reapCompletions`.
    public private(set) var hasPreparedSegment = false
    /// Appended bytes not yet durable: waiting for a commit plus handed to the syncing thread.
    public var pendingBytes: Int { waitingBytes + handedBytes - durableBytes }
    /// The index of the oldest record still on disk (or `nextIndex` when the log is empty).
    public var firstIndex: UInt64 { segments.first?.firstIndex ?? nextIndex }
    /// What the syncing thread did so far (as of the batch it finished last).
    public var statistics: LogStatistics { syncer.handoff.withLock { $0.statistics } }

    private let directory: String
    private let io: FileIO
    private let syncer: Syncer
    private let threads: [SystemThread]
    private var segments: [Segment]
    private var writeOffset: Int
    /// Whether the newest segment came from the preparer (else it is left for a prepared one).
    private var newestIsPrepared = false
    private var waiting: [Chunk] = []
    private var waitingBytes = 0
    private var removals: [String] = []
    /// Commits handed to the syncing thread, and the last one of them that completed.
    private var commits: UInt64 = 0
    private var completedCommit: UInt64 = 0
    /// Bytes handed to the syncing thread, and those of them durable (both since open).
    private var handedBytes = 0
    private var durableBytes = 0
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
        let recovered = try Recovery(directory: directory, io: io, preparedSize: options.prepareSegments ? options.segmentSize : nil)
            .run(emptyLogFirstIndex: options.firstIndex, visit: replay)
        self.options = options
        self.directory = directory
        self.io = io
        tornTail = recovered.tornTail
        segments = recovered.segments
        writeOffset = recovered.writeOffset
        nextIndex = recovered.nextIndex
        durableIndex = recovered.nextIndex - 1
        hasPreparedSegment = recovered.hasPreparedSegment
        let syncer: Syncer
        do throws(SystemError) {
            let prepared: PreparedState = !options.prepareSegments ? .off : recovered.hasPreparedSegment ? .ready : .wanted
            syncer = try Syncer(directory: directory, segmentSize: options.segmentSize, durableIndex: durableIndex,
                                prepared: prepared, io: io)
            self.syncer = syncer
            var threads = options.syncThread ? [try SystemThread { syncer.run() }] : []
            if options.prepareSegments {
                let preparer = SegmentPreparer(directory: directory, segmentSize: options.segmentSize, io: io, syncer: syncer)
                do {
                    threads.append(try SystemThread { preparer.run() })
                } catch {
                    syncer.stop()
                    threads[0].join()
                    throw error
                }
            }
            self.threads = threads
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
        if segments.isEmpty || writeOffset + size > options.segmentSize {
            startSegment(early: false)
        } else if segmentEnded || (hasPreparedSegment && !newestIsPrepared) {
            startSegment(early: true)   // the segment left is cut to its records
        }
        let segment = segments[segments.count - 1]
        if waiting.last?.segment != segment.firstIndex {
            waiting.append(Chunk(segment: segment.firstIndex, path: segment.path, offset: writeOffset, bytes: [], start: nil))
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

    /// Whether records were appended (or removals scheduled) since the last commit.
    public var hasUncommitted: Bool { !waiting.isEmpty || !removals.isEmpty }

    /// Hands everything appended since the last commit to the syncing thread: it is written
    /// now, or, while a batch is being written, right after that one's fdatasync. Call at the
    /// end of an event-loop iteration whose records something waits for (and soon after one
    /// whose records nothing waits for). Never blocks (beyond a short mutex hold).
    public func commit() {
        guard !closed, failure == nil, !waiting.isEmpty || !removals.isEmpty else { return }
        commits += 1
        syncer.submit(Batch(chunks: waiting, lastIndex: nextIndex - 1, removals: removals, commit: commits))
        waiting = []
        removals = []
        handedBytes += waitingBytes
        waitingBytes = 0
    }

    /// Takes the syncing thread's and the preparer's reports: returns the new `durableIndex`,
    /// or throws the failure that stopped the log. Call when `completionFD` is readable (or at
    /// any time: it never blocks).
    @discardableResult
    public func reapCompletions() throws(LogError) -> UInt64 {
        syncer.completions.consume()
        let state = syncer.handoff.withLock { state in
            (state.durableIndex, state.durableBytes, state.completedCommit, state.failure, state.prepared)
        }
        (durableIndex, durableBytes, completedCommit) = (state.0, state.1, state.2)
        switch state.4 {
        case .ready: hasPreparedSegment = true
        case .failed(let failure): preparationFailure = failure
        case .off, .wanted, .claimed: break
        }
        if let failure = state.3 {
            self.failure = failure
            throw .storage(failure)
        }
        return durableIndex
    }

    /// (`LogOptions.syncThread` off.) Whether a committed batch waits for `syncCommitted`.
    package var hasCommittedBatch: Bool { !options.syncThread && syncer.handoff.withLock { $0.queued != nil } }

    /// (`LogOptions.syncThread` off.) Writes and syncs what was committed, on the caller's
    /// thread — the syncing thread's step — and signals `completionFD`; `reapCompletions`
    /// then takes the outcome. Nothing to do without a committed batch.
    package func syncCommitted() {
        precondition(!options.syncThread, "the syncing thread does this")
        _ = syncer.syncQueued()
    }

    /// Commits and blocks until everything appended is durable, or throws the failure.
    /// For shutdown and tests — never on a running event loop.
    public func flush() throws(LogError) {
        while true {
            commit()
            if !options.syncThread { syncCommitted() }
            try reapCompletions()
            if completedCommit == commits && waiting.isEmpty && removals.isEmpty { return }
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

    /// Ends the newest segment: the next `append` starts a new one (and cuts the one left to
    /// its records), so every record appended so far can later go with `removeSegments`
    /// without taking newer ones along.
    public func startNewSegment() {
        if !segments.isEmpty { segmentEnded = true }
    }

    /// Reads back, in index order, every record with index ≥ `index` from disk — checksums
    /// validated again; any damage is `LogError.corrupt` — and hands it to `visit`. Blocks:
    /// for start-up, while nothing appended is waiting or in flight (so every record read is
    /// durable). Throws `.closed` after `close`.
    public func read(from index: UInt64, visit: (LogRecord) throws -> Void) throws {
        if closed { throw LogError.closed }
        precondition(waiting.isEmpty && completedCommit == commits, "read(from:) while records are being written")
        try Recovery(directory: directory, io: io, preparedSize: options.prepareSegments ? options.segmentSize : nil)
            .read(segments, from: index, visit: visit)
    }

    /// Stops the syncing thread after the batches already committed and the preparer after
    /// its current slice; records never committed are dropped (they were never durable).
    /// Blocks until both threads have exited.
    public func close() {
        guard !closed else { return }
        closed = true
        syncer.stop()
        for thread in threads { thread.join() }
        if !options.syncThread { syncer.closeWriter() }
    }

    /// Starts a segment at `nextIndex`, from the prepared file when one is ready; a newest
    /// segment left early for it is cut to its records.
    private func startSegment(early: Bool) {
        let path = directory + "/" + SegmentName.name(firstIndex: nextIndex)
        let cuts = early ? segments.last.map { SegmentEnd(path: $0.path, offset: writeOffset) } : nil
        newestIsPrepared = hasPreparedSegment
        if hasPreparedSegment {
            hasPreparedSegment = false
            syncer.handoff.withLock { $0.prepared = .claimed }
        }
        segments.append(Segment(firstIndex: nextIndex, path: path))
        waiting.append(Chunk(segment: nextIndex, path: path, offset: 0, bytes: SegmentHeader(firstIndex: nextIndex).bytes,
                             start: newestIsPrepared ? .prepared : .allocated, cuts: cuts))
        writeOffset = SegmentHeader.size
        waitingBytes += SegmentHeader.size
        segmentEnded = false
    }
}
