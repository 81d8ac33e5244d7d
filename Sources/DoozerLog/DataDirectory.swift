import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// A node's data directory, held exclusively: created if missing, locked with flock on the
/// file `LOCK` (which also records the holder's pid) so two processes never share it. The
/// lock lasts while this object lives, or until `close`; the kernel drops it when the process
/// dies, so a crashed holder never leaves the directory locked.
public final class DataDirectory {
    public static let lockFileName = "LOCK"

    public let path: String
    private let io: FileIO
    private var lock: FileDescriptor?

    public init(path: String, io: FileIO = .system) throws(DataDirectoryError) {
        self.path = path
        self.io = io
        let lockPath = path + "/" + Self.lockFileName
        do { try Self.makeDirectory(path, io: io) } catch { throw .unusable(path: path, error) }
        let fd: FileDescriptor
        do { fd = try io.open(lockPath, O_RDWR | O_CREAT, 0o644) } catch { throw .unusable(path: lockPath, error) }
        do {
            try io.lockExclusive(fd)
        } catch {
            let holder = Self.holder(fd, io: io)
            io.close(fd)
            if error.errno.rawValue == EWOULDBLOCK { throw .inUse(path: path, holderPID: holder) }
            throw .unusable(path: lockPath, error)
        }
        do {
            let record = Array((String(getpid()) + "\n").utf8) + [UInt8](repeating: 0x20, count: 12)
            try record.withBytes { (raw) throws(SystemError) in try io.pwriteAll(fd, raw, at: 0) }
        } catch {
            io.close(fd)
            throw .unusable(path: lockPath, error)
        }
        lock = fd
    }

    deinit { close() }

    /// The path of `name` inside the directory, created as a directory if missing.
    public func subdirectory(_ name: String) throws(DataDirectoryError) -> String {
        let sub = path + "/" + name
        do { try Self.makeDirectory(sub, io: io) } catch { throw .unusable(path: sub, error) }
        return sub
    }

    /// Creates `path` if missing and syncs its parent, so a power cut right after does not
    /// take the new directory (and the files about to be made in it) away.
    private static func makeDirectory(_ path: String, io: FileIO) throws(SystemError) {
        try io.makeDirectory(path)
        let slash = path.lastIndex(of: "/")
        let parent = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = try io.open(parent, O_RDONLY | O_DIRECTORY, 0)
        defer { io.close(fd) }
        try io.fsync(fd)
    }

    /// Releases the lock.
    public func close() {
        if let lock { io.close(lock) }
        lock = nil
    }

    /// The pid the holder wrote into the lock file, if it is readable.
    private static func holder(_ fd: FileDescriptor, io: FileIO) -> Int32? {
        guard let bytes = try? io.readAll(fd) else { return nil }
        let text = String(decoding: bytes.prefix { $0 >= 48 && $0 <= 57 }, as: UTF8.self)
        return Int32(text)
    }
}

/// Why a data directory cannot be used.
public enum DataDirectoryError: Error, Sendable, CustomStringConvertible {
    /// Another process (or another open in this one) holds the lock.
    case inUse(path: String, holderPID: Int32?)
    /// Creating, opening or writing failed.
    case unusable(path: String, SystemError)

    public var description: String {
        switch self {
        case .inUse(let path, let pid):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return "data directory \(path) is in use by \(holder) (its \(DataDirectory.lockFileName) file is locked)"
        case .unusable(let path, let error):
            return "cannot use data directory \(path): \(error)"
        }
    }
}
