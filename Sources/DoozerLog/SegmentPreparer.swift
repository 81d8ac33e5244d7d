import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// The preparer thread: keeps the next segment ready ahead of need, as `fileName` in the log
/// directory — preallocated, every byte written with zeros and fdatasynced — so that syncing
/// records into it later writes no file metadata (see the notes in RecordLog.swift).
///
/// Owns that one file while `PreparedState` is `wanted`, never any other: it does not touch
/// a segment, and it hands the file over (`ready`) only once it is wholly zero and synced.
/// It writes in slices of `sliceSize`, each written out before the next (so the disk never
/// holds more than one slice of it queued ahead of the log's syncs), and stops between
/// slices when the log stops; a stop or crash mid-way leaves a partial file, which the next
/// open removes. A failed call ends preparation for the log's life and is reported once
/// (`failed`); it never fails the log — no record is in the file — and later segments are
/// allocated when they start, as with preparation off.
struct SegmentPreparer: Sendable {
    static let fileName = "next-segment.prepared"
    static let sliceSize = 1 << 20

    let directory: String
    let segmentSize: Int
    let io: FileIO
    let syncer: Syncer

    var path: String { directory + "/" + Self.fileName }

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
                if case .failure = outcome { try? io.unlink(path) }
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
        let path = self.path
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
        return true
    }
}
