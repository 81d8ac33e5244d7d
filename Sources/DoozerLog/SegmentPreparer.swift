import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// The preparer thread: keeps the next segment ready ahead of need, as `fileName` in the log
/// directory — preallocated, every byte written with zeros and fdatasynced — so that syncing
/// records into it later writes no file metadata (see the notes in RecordLog.swift).
///
/// Owns `workName` and, until it reports it `ready`, `fileName`; never a segment. It writes
/// `workName` in slices of `sliceSize`, each written out before the next (so the disk never
/// holds more than one slice of it queued ahead of the log's syncs), fdatasyncs it and only
/// then renames it to `fileName`: a file by that name is whole, even after a crash, and the
/// next open keeps it. It stops between slices when the log stops; a stop or crash mid-way
/// leaves a partial `workName`, which the next open removes. A failed call ends preparation
/// for the log's life and is reported once (`failed`); it never fails the log — no record is
/// in the file — and later segments are allocated when they start, as with preparation off.
struct SegmentPreparer: Sendable {
    static let fileName = "next-segment.prepared"
    static let workName = "next-segment.preparing"
    static let sliceSize = 1 << 20

    let directory: String
    let segmentSize: Int
    let io: FileIO
    let syncer: Syncer

    var path: String { directory + "/" + Self.fileName }
    var workPath: String { directory + "/" + Self.workName }

    /// The thread's body: prepares whenever a file is wanted, until the log stops or fails.
    func run() {
        while true {
            let (wanted, done) = syncer.handoff.withLock { state in
                guard !state.stopping, state.failure == nil else { return (false, true) }
                if case .wanted = state.prepared { return (true, false) }
                return (false, false)
            }
            if done { return }
            if wanted {
                let outcome = Result { () throws(LogFailure) in try prepare() }
                // Best effort: what a failed unlink leaves, the next open removes.
                if case .failure = outcome { try? io.unlink(workPath) }
                syncer.handoff.withLock { state in
                    switch outcome {
                    case .success(true): state.prepared = .ready
                    case .success(false): break   // stopping
                    case .failure(let failure): state.prepared = .failed(failure)
                    }
                }
                syncer.completions.signal()   // the loop learns the state when it reaps
                continue
            }
            do {
                try syncer.preparations.wait()
            } catch {
                syncer.handoff.withLock { $0.prepared = .failed(LogFailure(error, path: "the log's preparation eventfd")) }
                syncer.completions.signal()
                return
            }
        }
    }

    /// Writes the whole file; false when the log stopped before it was done.
    private func prepare() throws(LogFailure) -> Bool {
        let path = workPath
        let fd = try attempt(path) { () throws(SystemError) in try io.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        defer { io.close(fd) }
        try attempt(path) { () throws(SystemError) in try allocate(fd, segmentSize, io: io) }
        let zeros = [UInt8](repeating: 0, count: min(Self.sliceSize, segmentSize))
        var offset = 0
        while offset < segmentSize {
            if syncer.handoff.withLock({ $0.stopping }) { return false }
            let count = min(zeros.count, segmentSize - offset)
            try attempt(path) { () throws(SystemError) in
                try zeros.withBytes { (raw) throws(SystemError) in
                    try io.pwriteAll(fd, UnsafeRawBufferPointer(rebasing: raw[..<count]), at: Int64(offset))
                }
                try io.writeOut(fd, Int64(offset), Int64(count))
            }
            offset += count
        }
        try attempt(path) { () throws(SystemError) in try io.fdatasync(fd) }
        try attempt(path) { () throws(SystemError) in try io.rename(path, self.path) }
        return true
    }
}
