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
package final class SnapshotWorker {
    package enum Job: Sendable {
        /// Writes `tree` in the snapshot format to `path` (through `path.tmp`, fsynced,
        /// renamed, the directory fsynced).
        case write(Snapshot, path: String)
        /// Removes every file in `directory` whose name is not in `keeping`, then fsyncs it.
        case remove(directory: String, keeping: Set<String>)
    }

    package enum Outcome: Sendable {
        case wrote(bytes: Int)
        case removed([String])
        /// What failed, as one line: the file and the call or stream error.
        case failed(String)
    }

    package let completions: EventCounter
    private let mailbox: Mailbox
    private let io: FileIO
    /// Whether jobs run on a thread of their own; otherwise the owner runs each with
    /// `runStartedJob` when it chooses (the deterministic simulation).
    private let threaded: Bool
    private var thread: SystemThread?
    /// A started job not yet run (`threaded` off), or one whose outcome is not reaped.
    private var job: Job?
    private var started = false

    /// Whether a job is running or its outcome has not been reaped (at most one job at a time).
    package var isBusy: Bool { started }
    /// (`threaded` off.) A started job waits for `runStartedJob`.
    package var hasStartedJob: Bool { job != nil }

    package init(io: FileIO = .system, threaded: Bool = true) throws(SystemError) {
        completions = try EventCounter()
        mailbox = Mailbox(completions: completions)
        self.io = io
        self.threaded = threaded
    }

    /// A job still running finishes first (its file is complete or discarded, never half
    /// renamed).
    deinit { thread?.join() }

    /// Starts `job` (on a new thread, or for `runStartedJob`); the worker must not be busy.
    package func start(_ job: Job) throws(SystemError) {
        precondition(!started, "one snapshot job at a time")
        started = true
        if !threaded {
            self.job = job
            return
        }
        let mailbox = mailbox, io = io
        do {
            thread = try SystemThread { mailbox.finish(Self.run(job, io: io)) }
        } catch {
            started = false
            throw error
        }
    }

    /// (`threaded` off.) Runs the started job on the caller's thread and posts its outcome.
    package func runStartedJob() {
        guard let job else { return }
        self.job = nil
        mailbox.finish(Self.run(job, io: io))
    }

    /// The finished job's outcome (the thread joined), or nil while it runs. Never blocks
    /// for longer than the thread's exit after it posted its outcome.
    package func reap() -> Outcome? {
        _ = completions.consume()
        guard let outcome = mailbox.take() else { return nil }
        thread?.join()
        thread = nil
        started = false
        return outcome
    }

    package static func write(_ tree: Snapshot, to path: String, io: FileIO = .system) throws -> Int {
        var encoder = SnapshotWriter(tree)
        let file = try SnapshotFile.Writer(path: path, io: io)
        var bytes = 0
        while let unit = try encoder.next() {
            try file.append(unit)
            bytes += unit.count
        }
        try file.commit()
        return bytes
    }

    private static func run(_ job: Job, io: FileIO) -> Outcome {
        switch job {
        case .write(let tree, let path):
            do {
                return .wrote(bytes: try write(tree, to: path, io: io))
            } catch {
                return .failed("\(error)")
            }
        case .remove(let directory, let keeping):
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
