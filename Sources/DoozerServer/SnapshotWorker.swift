import DoozerSnapshot
import DoozerStore
import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// The blocking half of a durable node's snapshots (`DIR/snapshots`): runs one job at a time
/// on a thread of its own — writing an immutable store snapshot to a file, or removing the
/// files the node no longer keeps — and signals `completions` (an eventfd the loop polls)
/// when it is done. Owns that thread and the job's outcome until `reap` takes it. It never
/// touches the log or the store, and removes only the files a job names as not kept.
///
/// Why a thread rather than slices on the loop: encoding and compressing a large tree takes
/// seconds of CPU and the writes block on the disk; the store's snapshot is immutable (copy on
/// write), so another thread can read it while the loop keeps applying writes, and on two
/// cores the loop loses nothing but that core's share.
final class SnapshotWorker {
    enum Job: Sendable {
        /// Writes `tree` in the snapshot format to `path` (through `path.tmp`, fsynced,
        /// renamed, the directory fsynced).
        case write(Snapshot, path: String)
        /// Removes every file in `directory` whose name is not in `keeping`, then fsyncs it.
        case remove(directory: String, keeping: Set<String>)
    }

    enum Outcome: Sendable {
        case wrote(bytes: Int)
        case removed([String])
        /// What failed, as one line: the file and the call or stream error.
        case failed(String)
    }

    let completions: EventCounter
    private let mailbox: Mailbox
    private var thread: SystemThread?

    /// Whether a job is running or its outcome has not been reaped (at most one job at a time).
    var isBusy: Bool { thread != nil }

    init() throws(SystemError) {
        completions = try EventCounter()
        mailbox = Mailbox(completions: completions)
    }

    /// A job still running finishes first (its file is complete or discarded, never half
    /// renamed).
    deinit { thread?.join() }

    /// Starts `job` on a new thread; the worker must not be busy.
    func start(_ job: Job) throws(SystemError) {
        precondition(thread == nil, "one snapshot job at a time")
        let mailbox = mailbox
        thread = try SystemThread { mailbox.finish(Self.run(job)) }
    }

    /// The finished job's outcome (the thread joined), or nil while it runs. Never blocks
    /// for longer than the thread's exit after it posted its outcome.
    func reap() -> Outcome? {
        _ = completions.consume()
        guard let outcome = mailbox.take() else { return nil }
        thread?.join()
        thread = nil
        return outcome
    }

    /// Writes `tree` to `path` as one snapshot file, returning its size. Blocking.
    static func write(_ tree: Snapshot, to path: String) throws -> Int {
        var encoder = SnapshotWriter(tree)
        let file = try SnapshotFile.Writer(path: path)
        var bytes = 0
        while let unit = try encoder.next() {
            try file.append(unit)
            bytes += unit.count
        }
        try file.commit()
        return bytes
    }

    private static func run(_ job: Job) -> Outcome {
        switch job {
        case .write(let tree, let path):
            do {
                return .wrote(bytes: try write(tree, to: path))
            } catch {
                return .failed("\(error)")
            }
        case .remove(let directory, let keeping):
            let io = FileIO.system
            var path = directory
            do {
                let names = try io.listDirectory(directory).filter { !keeping.contains($0) }
                for name in names {
                    path = directory + "/" + name
                    try io.unlink(path)
                }
                path = directory
                let fd = try io.open(directory, O_RDONLY | O_DIRECTORY, 0)
                defer { io.close(fd) }
                try io.fsync(fd)
                return .removed(names)
            } catch {
                return .failed("removing superseded snapshots: \(path): \(error)")
            }
        }
    }

    /// The outcome handed from the worker thread to the loop.
    private final class Mailbox: Sendable {
        private let outcome = Guarded<Outcome?>(nil)
        private let completions: EventCounter

        init(completions: EventCounter) { self.completions = completions }

        func finish(_ result: Outcome) {
            outcome.withLock { $0 = result }
            completions.signal()
        }

        func take() -> Outcome? { outcome.withLock { state in defer { state = nil }; return state } }
    }
}
