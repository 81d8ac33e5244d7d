import DoozerStore
import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// Why a snapshot file could not be read or written: the file, and the system call or the
/// stream error (which says where in the file) that failed.
public struct SnapshotFileError: Error, CustomStringConvertible {
    public let path: String
    public let problem: Problem

    public enum Problem: Sendable {
        case system(SystemError)
        case stream(SnapshotError)
    }

    public var description: String {
        switch problem {
        case .system(let error): return "\(path): \(error)"
        case .stream(let error): return "\(path): \(error)"
        }
    }
}

/// A snapshot stream in a file (the format of Format.swift, byte for byte what a node
/// streams): read and verified whole, or written so that the file either keeps its old
/// contents or holds a complete stream — written to `<path>.tmp`, synced, renamed over
/// `path`, and the directory synced. Owns one descriptor while it works; blocking, so never
/// for the event loop.
public enum SnapshotFile {
    /// Reads `path` to its end through a `SnapshotReader`: the snapshot, or the first thing
    /// wrong with the file (a truncated file fails as such, with the offset it ends at). The
    /// file system calls go through `io`.
    public static func read(_ path: String, io: FileIO = .system) throws(SnapshotFileError) -> Snapshot {
        let fd = try open(path, O_RDONLY, io: io)
        defer { io.close(fd) }
        var reader = SnapshotReader()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { bytes in
                    Result { () throws(SystemError) in try io.pread(fd, bytes, offset) }
                }.get()
            } catch {
                throw SnapshotFileError(path: path, problem: .system(error))
            }
            if count == 0 { break }
            offset += Int64(count)
            let fed = buffer.withUnsafeBytes { bytes in
                Result { () throws(SnapshotError) in try reader.feed(UnsafeRawBufferPointer(rebasing: bytes[..<count])) }
            }
            if case .failure(let error) = fed { throw SnapshotFileError(path: path, problem: .stream(error)) }
        }
        do {
            return try reader.finish()
        } catch {
            throw SnapshotFileError(path: path, problem: .stream(error))
        }
    }

    /// Writes one snapshot file: `append` the stream's bytes, then `commit` (or `discard`).
    /// Until `commit` returns, `path` is untouched; a writer dropped without either removes
    /// its temporary file.
    public final class Writer {
        public let path: String
        private let temporaryPath: String
        private let io: FileIO
        private var fd: FileDescriptor?
        private var offset: Int64 = 0

        /// Creates (or truncates) `<path>.tmp`; the file system calls go through `io`.
        public init(path: String, io: FileIO = .system) throws(SnapshotFileError) {
            self.path = path
            self.io = io
            temporaryPath = path + ".tmp"
            fd = try SnapshotFile.open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC, io: io)
        }

        deinit { discard() }

        public func append(_ bytes: [UInt8]) throws(SnapshotFileError) {
            guard let fd else { return }
            do {
                try bytes.withBytes { (buffer) throws(SystemError) in try io.pwriteAll(fd, buffer, at: offset) }
            } catch {
                throw SnapshotFileError(path: temporaryPath, problem: .system(error))
            }
            offset += Int64(bytes.count)
        }

        /// Syncs the temporary file, renames it over `path` and syncs the directory, in this
        /// order: a crash at any point leaves either the old `path` or the complete new one.
        public func commit() throws(SnapshotFileError) {
            guard let fd else { return }
            do {
                try io.fsync(fd)
            } catch {
                throw SnapshotFileError(path: temporaryPath, problem: .system(error))
            }
            io.close(fd)
            self.fd = nil
            do {
                try io.rename(temporaryPath, path)
            } catch {
                try? io.unlink(temporaryPath)
                throw SnapshotFileError(path: path, problem: .system(error))
            }
            let directory = SnapshotFile.directory(of: path)
            let dir = try SnapshotFile.open(directory, O_RDONLY | O_DIRECTORY, io: io)
            defer { io.close(dir) }
            do {
                try io.fsync(dir)
            } catch {
                throw SnapshotFileError(path: directory, problem: .system(error))
            }
        }

        /// Closes and removes the temporary file; `path` keeps what it had. Idempotent.
        public func discard() {
            guard let fd else { return }
            io.close(fd)
            self.fd = nil
            try? io.unlink(temporaryPath)
        }
    }

    private static func open(_ path: String, _ flags: Int32, io: FileIO) throws(SnapshotFileError) -> FileDescriptor {
        do {
            return try io.open(path, flags, 0o644)
        } catch {
            throw SnapshotFileError(path: path, problem: .system(error))
        }
    }

    /// The directory holding `path` ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
