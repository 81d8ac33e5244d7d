import DoozerConsensus
import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// One node's disk in the simulation: a file system in memory behind the `FileIO` seam, with
/// what a power cut does to a real one. Each file keeps the bytes its last `fdatasync` (or
/// `fsync`) made durable beside the bytes written since; each directory keeps the entries its
/// last `fsync` made durable beside the current ones (creations, renames and removals since),
/// and a new directory exists after a crash only once its parent was synced.
///
/// `crash` is the power cut: every file goes back to its durable bytes, plus — at random — a
/// prefix of the writes since its last sync, the last one possibly torn mid-way (the log must
/// clear such a tail, never trust it), or (`reordered`) any subset of them, as a write cache
/// that persists pages out of order leaves it (the log must then refuse to start rather than
/// trust what follows a hole); every directory goes back to its durable entries. `failNextSync`
/// makes a sync fail with EIO, dropping the writes it should have made durable (as Linux drops
/// the dirty pages). `flipBit` corrupts a synced byte of a file that is not its log's newest
/// segment (the log's checksums must catch it). Deterministic: every choice comes from the
/// generator the caller passes.
///
/// Not thread-safe: the simulation runs the log's and the snapshot worker's blocking steps on
/// its own thread (`NodeLog.Disk.threads` off), so nothing else touches it.
final class SimulatedDisk: @unchecked Sendable {
    private final class File {
        var durable: [UInt8] = []
        var current: [UInt8] = []
        /// Writes since the last sync, in order (offset and bytes), for a crash to keep a prefix of.
        var unsynced: [(offset: Int, bytes: [UInt8], truncate: Int?)] = []
    }

    /// Files by inode; directories map names to inodes, current and durable.
    private var files: [Int: File] = [:]
    private var entries: [String: [String: Int]] = ["/": [:]]
    private var durableEntries: [String: [String: Int]] = ["/": [:]]
    /// Directories, and those a crash keeps (their parent was synced since they were made).
    private var directories: Set<String> = ["/"]
    private var durableDirectories: Set<String> = ["/"]
    private var open: [Int32: (inode: Int?, path: String)] = [:]
    private var nextInode = 1
    private var nextDescriptor: Int32 = 1000
    private var failSyncs = 0
    /// Syncs failed with EIO, and bits flipped.
    private(set) var stats = (failedSyncs: 0, flippedBits: 0, tornWrites: 0)
    /// Whether the disk suffered what a crash cannot explain (a flipped bit, pages persisted
    /// out of order): only then may the log refuse to start from it.
    private(set) var damaged = false

    /// The file system calls, over this disk.
    var io: FileIO {
        FileIO(
            open: { [self] path, flags, _ throws(SystemError) in try openFile(path, flags) },
            pwrite: { [self] fd, bytes, offset throws(SystemError) in try write(fd, bytes, Int(offset)) },
            pread: { [self] fd, into, offset throws(SystemError) in try read(fd, into, Int(offset)) },
            fdatasync: { [self] fd throws(SystemError) in try sync(fd) },
            fsync: { [self] fd throws(SystemError) in try sync(fd) },
            fallocate: { [self] fd, offset, length throws(SystemError) in
                let file = try self.file(fd, "fallocate")
                let end = Int(offset + length)
                if file.current.count < end { apply(file, write: [UInt8](repeating: 0, count: end - file.current.count), at: file.current.count) }
            },
            writeOut: { _, _, _ in },
            size: { [self] fd throws(SystemError) in Int64(try file(fd, "fstat").current.count) },
            truncate: { [self] fd, length throws(SystemError) in
                let file = try self.file(fd, "ftruncate")
                file.unsynced.append((Int(length), [], Int(length)))
                resize(&file.current, Int(length))
            },
            rename: { [self] from, to throws(SystemError) in
                let (fromDirectory, fromName) = split(from), (toDirectory, toName) = split(to)
                guard let inode = entries[fromDirectory]?[fromName] else { throw SystemError("rename", Errno(rawValue: ENOENT)) }
                entries[fromDirectory]![fromName] = nil
                entries[toDirectory, default: [:]][toName] = inode
            },
            unlink: { [self] path throws(SystemError) in
                let (directory, name) = split(path)
                guard entries[directory]?[name] != nil else { throw SystemError("unlink", Errno(rawValue: ENOENT)) }
                entries[directory]![name] = nil
            },
            makeDirectory: { [self] path throws(SystemError) in
                guard directories.contains(split(path).0) else { throw SystemError("mkdir", Errno(rawValue: ENOENT)) }
                if directories.insert(path).inserted { entries[path] = [:] }
            },
            listDirectory: { [self] path throws(SystemError) in
                guard let names = entries[path] else { throw SystemError("opendir", Errno(rawValue: ENOENT)) }
                return names.keys.sorted()
            },
            lockExclusive: { _ throws(SystemError) in },
            close: { [self] fd in open[fd.rawValue] = nil }
        )
    }

    // MARK: Faults

    /// A power cut: what was never synced is lost, but for a random prefix of each file's
    /// writes since its sync (the last one perhaps torn); directories lose what was not synced.
    func crash(_ rng: inout SplitMix64, reordered: Bool = false) {
        open = [:]
        if reordered { damaged = true }
        failSyncs = 0   // a failure injected into the run that ended
        for inode in files.keys.sorted() {
            let file = files[inode]!
            var survivor = file.durable
            let kept = Int(rng.next() % UInt64(file.unsynced.count + 1))
            for (i, write) in file.unsynced.enumerated() {
                if reordered ? rng.next() % 2 == 0 : i >= kept { continue }
                var bytes = write.bytes
                if i == kept - 1 && bytes.count > 1 && rng.next() % 2 == 0 {
                    bytes = Array(bytes.prefix(1 + Int(rng.next() % UInt64(bytes.count - 1))))
                    stats.tornWrites += 1
                }
                if let length = write.truncate { resize(&survivor, length) } else { place(bytes, at: write.offset, in: &survivor) }
            }
            file.durable = survivor
            file.current = survivor
            file.unsynced = []
        }
        directories = durableDirectories
        durableEntries = durableEntries.filter { directories.contains($0.key) }
        entries = durableEntries
        let reachable = Set(entries.values.flatMap(\.values))
        files = files.filter { reachable.contains($0.key) }
    }

    /// The next `n` syncs fail with EIO.
    func failNextSync(_ n: Int = 1) { failSyncs += n }

    /// Flips one bit of a synced byte in a random file under `directory` that is not the newest
    /// file there (for a log: not its newest segment, whose tail a crash may tear); false when
    /// there is no such file or byte.
    @discardableResult
    func flipBit(under directory: String, _ rng: inout SplitMix64) -> Bool {
        guard let names = durableEntries[directory]?.keys.sorted(), names.count > 1 else { return false }
        let candidates = names.dropLast().filter { !$0.hasSuffix(".tmp") }
        guard !candidates.isEmpty else { return false }
        let name = candidates[Int(rng.next() % UInt64(candidates.count))]
        guard let inode = durableEntries[directory]?[name], let file = files[inode], !file.durable.isEmpty else { return false }
        let offset = Int(rng.next() % UInt64(file.durable.count))
        let bit = UInt8(1) << UInt8(rng.next() % 8)
        file.durable[offset] ^= bit
        if offset < file.current.count { file.current[offset] ^= bit }
        stats.flippedBits += 1
        damaged = true
        return true
    }

    // MARK: Calls

    private func openFile(_ path: String, _ flags: Int32) throws(SystemError) -> FileDescriptor {
        let fd = nextDescriptor
        nextDescriptor += 1
        if flags & O_DIRECTORY != 0 {
            guard directories.contains(path) else { throw SystemError("open", Errno(rawValue: ENOENT)) }
            open[fd] = (nil, path)
            return FileDescriptor(rawValue: fd)
        }
        let (directory, name) = split(path)
        guard directories.contains(directory) else { throw SystemError("open", Errno(rawValue: ENOENT)) }
        if let inode = entries[directory]![name] {
            if flags & O_CREAT != 0 && flags & O_EXCL != 0 { throw SystemError("open", Errno(rawValue: EEXIST)) }
            if flags & O_TRUNC != 0 {
                let file = files[inode]!
                file.unsynced.append((0, [], 0))
                file.current = []
            }
            open[fd] = (inode, path)
        } else {
            guard flags & O_CREAT != 0 else { throw SystemError("open", Errno(rawValue: ENOENT)) }
            let inode = nextInode
            nextInode += 1
            files[inode] = File()
            entries[directory]![name] = inode
            open[fd] = (inode, path)
        }
        return FileDescriptor(rawValue: fd)
    }

    private func file(_ fd: FileDescriptor, _ call: String) throws(SystemError) -> File {
        guard let inode = open[fd.rawValue]?.inode, let file = files[inode] else { throw SystemError(call, Errno(rawValue: EBADF)) }
        return file
    }

    private func write(_ fd: FileDescriptor, _ bytes: UnsafeRawBufferPointer, _ offset: Int) throws(SystemError) -> Int {
        apply(try file(fd, "pwrite"), write: Array(bytes), at: offset)
        return bytes.count
    }

    private func read(_ fd: FileDescriptor, _ into: UnsafeMutableRawBufferPointer, _ offset: Int) throws(SystemError) -> Int {
        let file = try self.file(fd, "pread")
        guard offset < file.current.count else { return 0 }
        let count = min(into.count, file.current.count - offset)
        file.current.withUnsafeBytes { into.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
        return count
    }

    private func sync(_ fd: FileDescriptor) throws(SystemError) {
        guard let entry = open[fd.rawValue] else { throw SystemError("fsync", Errno(rawValue: EBADF)) }
        if failSyncs > 0 {
            failSyncs -= 1
            stats.failedSyncs += 1
            if let inode = entry.inode, let file = files[inode] {
                file.current = file.durable   // the kernel dropped the dirty pages
                file.unsynced = []
            }
            throw SystemError("fdatasync", Errno(rawValue: EIO))
        }
        guard let inode = entry.inode else {
            // A directory: its entries, and the directories made in it.
            durableEntries[entry.path] = entries[entry.path]
            for directory in directories where directory != "/" && split(directory).0 == entry.path {
                if durableDirectories.insert(directory).inserted, durableEntries[directory] == nil { durableEntries[directory] = [:] }
            }
            return
        }
        let file = files[inode]!
        file.durable = file.current
        file.unsynced = []
    }

    private func apply(_ file: File, write bytes: [UInt8], at offset: Int) {
        file.unsynced.append((offset, bytes, nil))
        place(bytes, at: offset, in: &file.current)
    }

    private func place(_ bytes: [UInt8], at offset: Int, in content: inout [UInt8]) {
        if content.count < offset + bytes.count { resize(&content, offset + bytes.count) }
        content.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    }

    private func resize(_ content: inout [UInt8], _ length: Int) {
        if content.count > length { content.removeSubrange(length...) } else { content += [UInt8](repeating: 0, count: length - content.count) }
    }

    private func split(_ path: String) -> (String, String) {
        let slash = path.lastIndex(of: "/")!
        let parent = slash == path.startIndex ? "/" : String(path[..<slash])
        return (parent, String(path[path.index(after: slash)...]))
    }
}
