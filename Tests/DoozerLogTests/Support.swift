import DoozerLog
import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under `parent` (the system temp directory by default), removed with
/// everything in it by `remove`.
final class TemporaryDirectory {
    let path: String

    init(in parent: String = "/tmp") throws {
        var template = Array((parent + "/doozerlog-test-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw SystemError("mkdtemp", .current)
        }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { Self.removeTree(path) }

    private static func removeTree(_ path: String) {
        for name in (try? FileIO.system.listDirectory(path)) ?? [] {
            let child = path + "/" + name
            if Glibc.unlink(child) != 0 { removeTree(child) }
        }
        rmdir(path)
    }
}

/// Whole-file helpers for arranging damage.
enum Files {
    static func read(_ path: String) throws -> [UInt8] {
        let fd = try FileIO.system.open(path, O_RDONLY, 0)
        defer { fd.close() }
        return try FileIO.system.readAll(fd)
    }

    /// Replaces the file's contents (and size) with `bytes`.
    static func write(_ path: String, _ bytes: [UInt8]) throws {
        let fd = try FileIO.system.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        defer { fd.close() }
        try bytes.withUnsafeBytes { raw in try FileIO.system.pwriteAll(fd, raw, at: 0) }
    }

    static func segments(in directory: String) throws -> [String] {
        try FileIO.system.listDirectory(directory).filter { $0.hasSuffix(".log") }.sorted()
    }
}

/// The seed of a randomized test: DOOZER_TEST_SEED when set, so a failure can be replayed,
/// otherwise a fresh one. Tests print it in every failure message.
func testSeed() -> UInt64 {
    getenv("DOOZER_TEST_SEED").flatMap { UInt64(String(cString: $0)) } ?? UInt64.random(in: 1...UInt64.max)
}

/// Counts the log's storage calls and fails or shortens the ones a test asks for.
final class FaultyIO: Sendable {
    enum Fault: Sendable {
        /// The nth call (1-based) of `call` fails with `errno`.
        case fail(call: String, nth: Int, errno: Int32)
        /// Every pwrite takes at most this many bytes.
        case shortWrites(Int)
    }

    struct Counts: Sendable {
        var calls: [String: Int] = [:]
    }

    private let faults: [Fault]
    private let counts = Guarded(Counts())
    /// When set, fdatasync waits for `release` after signalling `entered` (a sync in flight).
    let gate: Gate?

    final class Gate: Sendable {
        let entered: EventCounter
        let release: EventCounter
        init() throws {
            entered = try EventCounter()
            release = try EventCounter()
        }
    }

    init(_ faults: [Fault] = [], gated: Bool = false) throws {
        self.faults = faults
        gate = gated ? try Gate() : nil
    }

    func count(_ call: String) -> Int { counts.withLock { $0.calls[call, default: 0] } }

    /// Records one call and returns the errno it must fail with, if any.
    private func enter(_ call: String) -> Int32? {
        let n = counts.withLock { state in
            state.calls[call, default: 0] += 1
            return state.calls[call]!
        }
        for case .fail(call, n, let errno) in faults { return errno }
        return nil
    }

    private var shortLimit: Int? {
        for case .shortWrites(let limit) in faults { return limit }
        return nil
    }

    var io: FileIO {
        var io = FileIO.system
        let real = FileIO.system
        io.pwrite = { (fd, bytes, offset) throws(SystemError) in
            if let errno = self.enter("pwrite") { throw SystemError("pwrite", Errno(rawValue: errno)) }
            let limit = self.shortLimit ?? bytes.count
            return try real.pwrite(fd, UnsafeRawBufferPointer(rebasing: bytes.prefix(limit)), offset)
        }
        io.fdatasync = { fd throws(SystemError) in
            if let gate = self.gate {
                gate.entered.signal()
                try gate.release.wait()
            }
            if let errno = self.enter("fdatasync") { throw SystemError("fdatasync", Errno(rawValue: errno)) }
            try real.fdatasync(fd)
        }
        io.fallocate = { (fd, offset, length) throws(SystemError) in
            if let errno = self.enter("fallocate") { throw SystemError("fallocate", Errno(rawValue: errno)) }
            try real.fallocate(fd, offset, length)
        }
        io.fsync = { fd throws(SystemError) in
            if let errno = self.enter("fsync") { throw SystemError("fsync", Errno(rawValue: errno)) }
            try real.fsync(fd)
        }
        io.writeOut = { (fd, offset, length) throws(SystemError) in
            if let errno = self.enter("sync_file_range") { throw SystemError("sync_file_range", Errno(rawValue: errno)) }
            try real.writeOut(fd, offset, length)
        }
        io.truncate = { (fd, length) throws(SystemError) in
            if let errno = self.enter("ftruncate") { throw SystemError("ftruncate", Errno(rawValue: errno)) }
            try real.truncate(fd, length)
        }
        io.rename = { (from, to) throws(SystemError) in
            if let errno = self.enter("rename") { throw SystemError("rename", Errno(rawValue: errno)) }
            try real.rename(from, to)
        }
        return io
    }
}

extension RecordLog {
    /// Opens `directory` and returns the log with every record recovery replayed.
    static func open(_ directory: String, options: LogOptions = LogOptions(), io: FileIO = .system) throws -> (RecordLog, [LogRecord]) {
        var records: [LogRecord] = []
        let log = try RecordLog(directory: directory, options: options, io: io) { records.append($0) }
        return (log, records)
    }

    /// Blocks until the syncing thread (or the preparer) reports, then reaps.
    @discardableResult
    func awaitCompletion() throws -> UInt64 {
        var request = pollfd(fd: completionFD.rawValue, events: Int16(POLLIN), revents: 0)
        while poll(&request, 1, -1) < 0 {}
        return try reapCompletions()
    }

    /// Blocks until the preparer reports a segment ready or its failure.
    func awaitPreparer() throws {
        while !hasPreparedSegment && preparationFailure == nil { try awaitCompletion() }
    }
}

/// Small segments; no preparer unless asked (its calls would interleave with the syncing
/// thread's in the counts tests check).
func small(segmentSize: Int = 4096, maxPending: Int = 1 << 20, prepared: Bool = false) -> LogOptions {
    var options = LogOptions()
    options.segmentSize = segmentSize
    options.maxPendingBytes = maxPending
    options.prepareSegments = prepared
    return options
}
