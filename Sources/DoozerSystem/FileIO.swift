import CShims
#if canImport(Glibc)
import Glibc
#endif

/// The file system calls of the durable log, as replaceable function values: the seam where
/// tests inject short writes, EIO and ENOSPC without root. `.system` calls the kernel; every
/// call retries EINTR and reports any other failure as a `SystemError` naming the call. It owns
/// no state and never decides policy (a short write is returned, not continued, here).
public struct FileIO: Sendable {
    /// Opens `path` with `flags` (O_CLOEXEC is always added) and `mode` for a created file.
    public var open: @Sendable (_ path: String, _ flags: Int32, _ mode: UInt32) throws(SystemError) -> FileDescriptor
    /// Writes at most `bytes.count` bytes at `offset`; returns how many the kernel took.
    public var pwrite: @Sendable (FileDescriptor, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws(SystemError) -> Int
    /// Reads at most `into.count` bytes at `offset`; 0 is end of file.
    public var pread: @Sendable (FileDescriptor, _ into: UnsafeMutableRawBufferPointer, _ offset: Int64) throws(SystemError) -> Int
    /// Flushes the file's data (and the metadata needed to read it back).
    public var fdatasync: @Sendable (FileDescriptor) throws(SystemError) -> Void
    /// Flushes data and metadata; on a directory, its entries (created, renamed, removed files).
    public var fsync: @Sendable (FileDescriptor) throws(SystemError) -> Void
    /// Allocates `length` bytes from `offset`, extending the file size.
    public var fallocate: @Sendable (FileDescriptor, _ offset: Int64, _ length: Int64) throws(SystemError) -> Void
    /// Writes the range's dirty pages to the device and waits for them (sync_file_range):
    /// no metadata and no device cache flush, so nothing is durable until an fdatasync.
    public var writeOut: @Sendable (FileDescriptor, _ offset: Int64, _ length: Int64) throws(SystemError) -> Void
    /// The file's size in bytes.
    public var size: @Sendable (FileDescriptor) throws(SystemError) -> Int64
    /// Cuts (or extends) the file to `length` bytes (ftruncate).
    public var truncate: @Sendable (FileDescriptor, _ length: Int64) throws(SystemError) -> Void
    public var rename: @Sendable (_ from: String, _ to: String) throws(SystemError) -> Void
    public var unlink: @Sendable (_ path: String) throws(SystemError) -> Void
    /// Creates a directory; an existing one is not an error.
    public var makeDirectory: @Sendable (_ path: String) throws(SystemError) -> Void
    /// The names in a directory, without "." and "..", in no particular order.
    public var listDirectory: @Sendable (_ path: String) throws(SystemError) -> [String]
    /// Takes an exclusive advisory lock (flock) without waiting; EWOULDBLOCK when another
    /// open file description holds it.
    public var lockExclusive: @Sendable (FileDescriptor) throws(SystemError) -> Void
    public var close: @Sendable (FileDescriptor) -> Void

    /// File system calls of the caller's making (a simulated disk, a test's fault injection).
    public init(
        open: @escaping @Sendable (String, Int32, UInt32) throws(SystemError) -> FileDescriptor,
        pwrite: @escaping @Sendable (FileDescriptor, UnsafeRawBufferPointer, Int64) throws(SystemError) -> Int,
        pread: @escaping @Sendable (FileDescriptor, UnsafeMutableRawBufferPointer, Int64) throws(SystemError) -> Int,
        fdatasync: @escaping @Sendable (FileDescriptor) throws(SystemError) -> Void,
        fsync: @escaping @Sendable (FileDescriptor) throws(SystemError) -> Void,
        fallocate: @escaping @Sendable (FileDescriptor, Int64, Int64) throws(SystemError) -> Void,
        writeOut: @escaping @Sendable (FileDescriptor, Int64, Int64) throws(SystemError) -> Void,
        size: @escaping @Sendable (FileDescriptor) throws(SystemError) -> Int64,
        truncate: @escaping @Sendable (FileDescriptor, Int64) throws(SystemError) -> Void,
        rename: @escaping @Sendable (String, String) throws(SystemError) -> Void,
        unlink: @escaping @Sendable (String) throws(SystemError) -> Void,
        makeDirectory: @escaping @Sendable (String) throws(SystemError) -> Void,
        listDirectory: @escaping @Sendable (String) throws(SystemError) -> [String],
        lockExclusive: @escaping @Sendable (FileDescriptor) throws(SystemError) -> Void,
        close: @escaping @Sendable (FileDescriptor) -> Void
    ) {
        self.open = open
        self.pwrite = pwrite
        self.pread = pread
        self.fdatasync = fdatasync
        self.fsync = fsync
        self.fallocate = fallocate
        self.writeOut = writeOut
        self.size = size
        self.truncate = truncate
        self.rename = rename
        self.unlink = unlink
        self.makeDirectory = makeDirectory
        self.listDirectory = listDirectory
        self.lockExclusive = lockExclusive
        self.close = close
    }

    /// The real system calls.
    public static let system = FileIO(
        open: { (path, flags, mode) throws(SystemError) in
            let fd = try retryingInterrupts("open") { Glibc.open(path, flags | O_CLOEXEC, mode_t(mode)) }
            return FileDescriptor(rawValue: fd)
        },
        pwrite: { (fd, bytes, offset) throws(SystemError) in
            try retryingInterrupts("pwrite") { Glibc.pwrite(fd.rawValue, bytes.baseAddress, bytes.count, off_t(offset)) }
        },
        pread: { (fd, into, offset) throws(SystemError) in
            try retryingInterrupts("pread") { Glibc.pread(fd.rawValue, into.baseAddress, into.count, off_t(offset)) }
        },
        fdatasync: { fd throws(SystemError) in
            _ = try retryingInterrupts("fdatasync") { cshims_fdatasync(fd.rawValue) }
        },
        fsync: { fd throws(SystemError) in
            _ = try retryingInterrupts("fsync") { Glibc.fsync(fd.rawValue) }
        },
        fallocate: { (fd, offset, length) throws(SystemError) in
            _ = try retryingInterrupts("fallocate") { cshims_fallocate(fd.rawValue, offset, length) }
        },
        writeOut: { (fd, offset, length) throws(SystemError) in
            _ = try retryingInterrupts("sync_file_range") { cshims_write_out(fd.rawValue, offset, length) }
        },
        size: { fd throws(SystemError) in
            var status = stat()
            _ = try retryingInterrupts("fstat") { fstat(fd.rawValue, &status) }
            return Int64(status.st_size)
        },
        truncate: { (fd, length) throws(SystemError) in
            _ = try retryingInterrupts("ftruncate") { ftruncate(fd.rawValue, off_t(length)) }
        },
        rename: { (from, to) throws(SystemError) in
            _ = try retryingInterrupts("rename") { Glibc.rename(from, to) }
        },
        unlink: { path throws(SystemError) in
            _ = try retryingInterrupts("unlink") { Glibc.unlink(path) }
        },
        makeDirectory: { path throws(SystemError) in
            if mkdir(path, 0o755) != 0, Errno.current.rawValue != EEXIST {
                throw SystemError("mkdir", .current)
            }
        },
        listDirectory: { path throws(SystemError) in
            guard let directory = opendir(path) else { throw SystemError("opendir", .current) }
            defer { closedir(directory) }
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return names
        },
        lockExclusive: { fd throws(SystemError) in
            _ = try retryingInterrupts("flock") { flock(fd.rawValue, LOCK_EX | LOCK_NB) }
        },
        close: { fd in fd.close() }
    )

    /// Writes all of `bytes` at `offset`, continuing short writes; a write that takes nothing
    /// is reported as ENOSPC rather than looped on.
    public func pwriteAll(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let written = try pwrite(fd, UnsafeRawBufferPointer(rebasing: bytes[done...]), offset + Int64(done))
            if written <= 0 { throw SystemError("pwrite (wrote nothing)", Errno(rawValue: ENOSPC)) }
            done += written
        }
    }

    /// Reads the whole file into memory.
    public func readAll(_ fd: FileDescriptor) throws(SystemError) -> [UInt8] {
        let count = Int(try size(fd))
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = try bytes.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try pread(fd, UnsafeMutableRawBufferPointer(rebasing: raw[done...]), Int64(done)) }
            }.get()
            if n == 0 { break }  // shrank while being read
            done += n
        }
        return done == count ? bytes : Array(bytes.prefix(done))
    }
}
