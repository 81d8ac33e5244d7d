import DoozerSystem
#if canImport(Glibc)
import Glibc
#endif

/// One record as recovery reads it back.
public struct LogRecord: Equatable, Sendable {
    public var index: UInt64
    public var type: UInt8
    public var payload: [UInt8]

    public init(index: UInt64, type: UInt8, payload: [UInt8]) {
        self.index = index
        self.type = type
        self.payload = payload
    }
}

/// What recovery did to a torn tail: the caller logs `description` as one line.
public struct TornTail: Sendable, Equatable, CustomStringConvertible {
    /// The segment file that was repaired (or removed, when its header was torn).
    public var file: String
    /// Where the whole records ended.
    public var offset: Int
    /// How many bytes after `offset` were cleared.
    public var clearedBytes: Int
    /// What was found at `offset` instead of a record.
    public var found: String
    /// Whether the whole file was removed (a segment whose header was never completed).
    public var removedFile: Bool

    public var description: String {
        let action = removedFile ? "removed the unfinished segment" : "cleared \(clearedBytes) bytes after the last whole record"
        return "log recovery: torn tail in \(file) at byte offset \(offset) (\(found)); \(action)"
    }
}

/// One segment file as the log tracks it.
struct Segment: Equatable, Sendable {
    var firstIndex: UInt64
    var path: String
}

/// The state of the log directory after recovery, for the writer to continue from.
struct RecoveredLog {
    var segments: [Segment] = []
    /// The index the next appended record gets.
    var nextIndex: UInt64
    /// Where the next record goes in the newest segment (when there is one).
    var writeOffset: Int = SegmentHeader.size
    var tornTail: TornTail?
    /// A whole prepared file (`SegmentPreparer.fileName`) of the segment size is there.
    var hasPreparedSegment = false
}

/// Reads a log directory back: every segment in index order, headers and checksums validated,
/// each whole record handed to `visit`. Repairs exactly one kind of damage, a torn tail at the
/// end of the newest segment (see `RecordLog`); any other damage throws `LogError.corrupt`
/// naming the file, the offset and what was expected. Removes what preparation left that
/// cannot be used (see `SegmentPreparer`). Owns nothing after it returns.
struct Recovery {
    let directory: String
    let io: FileIO
    /// The size a prepared file must have to be kept; nil when preparation is off.
    let preparedSize: Int?

    func run(emptyLogFirstIndex: UInt64, visit: (LogRecord) throws -> Void) throws -> RecoveredLog {
        let all: [String]
        do {
            all = try io.listDirectory(directory)
        } catch {
            throw LogError.storage(LogFailure(error, path: directory))
        }
        var result = RecoveredLog(nextIndex: emptyLogFirstIndex)
        // Partial (a crash or a stop mid-way): it goes, and the preparer starts again.
        if all.contains(SegmentPreparer.workName) { try remove(SegmentPreparer.workName, sync: false) }
        if all.contains(SegmentPreparer.fileName) {
            // Whole (it is renamed to this name only once synced), so it is kept, unless
            // preparation is off or the segment size changed.
            let path = directory + "/" + SegmentPreparer.fileName
            let size: Int64
            do {
                let fd = try io.open(path, O_RDONLY, 0)
                defer { io.close(fd) }
                size = try io.size(fd)
            } catch {
                throw LogError.storage(LogFailure(error, path: path))
            }
            if let preparedSize, size == Int64(preparedSize) {
                result.hasPreparedSegment = true
            } else {
                try remove(SegmentPreparer.fileName, sync: false)
            }
        }
        let names = all.compactMap { name in SegmentName.firstIndex(of: name).map { ($0, name) } }.sorted { $0.0 < $1.0 }
        for (position, (nameIndex, name)) in names.enumerated() {
            let path = directory + "/" + name
            let newest = position == names.count - 1
            let bytes = try read(path)
            let scan = SegmentScan(path: path, bytes: bytes, newest: newest)
            switch try scan.header(nameIndex: nameIndex, expected: position == 0 ? nil : result.nextIndex) {
            case .valid:
                break
            case .torn(let found):
                try remove(name, sync: true)
                result.tornTail = TornTail(file: path, offset: 0, clearedBytes: bytes.count, found: found, removedFile: true)
                continue
            }
            let end = try scan.records(firstIndex: nameIndex, visit: visit)
            if let tear = end.tear {
                try clear(path, from: tear.offset, count: tear.count)
                result.tornTail = TornTail(file: path, offset: tear.offset, clearedBytes: tear.count, found: tear.found, removedFile: false)
            }
            result.segments.append(Segment(firstIndex: nameIndex, path: path))
            result.nextIndex = end.nextIndex
            result.writeOffset = end.offset
        }
        return result
    }

    /// Reads `segments` (recovered and validated before) again, handing every record with index
    /// ≥ `from` to `visit`. Nothing is repaired: any damage now is corruption.
    func read(_ segments: [Segment], from index: UInt64, visit: (LogRecord) throws -> Void) throws {
        for (position, segment) in segments.enumerated() {
            if position + 1 < segments.count, segments[position + 1].firstIndex <= index { continue }
            let scan = SegmentScan(path: segment.path, bytes: try read(segment.path), newest: false)
            _ = try scan.header(nameIndex: segment.firstIndex, expected: segment.firstIndex)
            _ = try scan.records(firstIndex: segment.firstIndex) { record in
                if record.index >= index { try visit(record) }
            }
        }
    }

    private func read(_ path: String) throws(LogError) -> [UInt8] {
        do {
            let fd = try io.open(path, O_RDONLY, 0)
            defer { io.close(fd) }
            return try io.readAll(fd)
        } catch {
            throw .storage(LogFailure(error, path: path))
        }
    }

    /// Overwrites a torn tail with zeros and syncs, so the space reads as preallocated again.
    private func clear(_ path: String, from offset: Int, count: Int) throws(LogError) {
        do {
            let fd = try io.open(path, O_WRONLY, 0)
            defer { io.close(fd) }
            let zeros = [UInt8](repeating: 0, count: count)
            try zeros.withBytes { (raw) throws(SystemError) in try io.pwriteAll(fd, raw, at: Int64(offset)) }
            try io.fdatasync(fd)
        } catch {
            throw .storage(LogFailure(error, path: path))
        }
    }

    /// Removes a file of the directory; `sync` makes the removal durable (a segment whose
    /// header never reached the disk must not come back).
    private func remove(_ name: String, sync: Bool) throws(LogError) {
        let path = directory + "/" + name
        do {
            try io.unlink(path)
            guard sync else { return }
            let fd = try io.open(directory, O_RDONLY | O_DIRECTORY, 0)
            defer { io.close(fd) }
            try io.fsync(fd)
        } catch {
            throw .storage(LogFailure(error, path: path))
        }
    }
}

/// The checks over one segment file's bytes.
struct SegmentScan {
    let path: String
    let bytes: [UInt8]
    let newest: Bool

    enum HeaderState { case valid, torn(String) }

    struct End {
        var nextIndex: UInt64
        var offset: Int
        var tear: (offset: Int, count: Int, found: String)?
    }

    func header(nameIndex: UInt64, expected: UInt64?) throws(LogError) -> HeaderState {
        switch SegmentHeader.decode(bytes[...]) {
        case .failure(let problem):
            // A newest segment whose header never fully reached the disk holds no records.
            if newest && validRecord(after: 0) == nil { return .torn("no valid header: expected \(problem)") }
            throw .corrupt(file: path, offset: 0, expected: problem.description)
        case .success(let header):
            if header.firstIndex != nameIndex {
                throw .corrupt(file: path, offset: 16, expected: "first index \(nameIndex) as the file name says (found \(header.firstIndex))")
            }
            if let expected, header.firstIndex != expected {
                throw .corrupt(file: path, offset: 16, expected: "first index \(expected), following the previous segment (found \(header.firstIndex))")
            }
            return .valid
        }
    }

    func records(firstIndex: UInt64, visit: (LogRecord) throws -> Void) throws -> End {
        var index = firstIndex
        var offset = SegmentHeader.size
        let n = bytes.count
        while true {
            if offset == n { return End(nextIndex: index, offset: offset) }
            guard offset + RecordFormat.headerSize <= n else {
                if isZero(from: offset) { return End(nextIndex: index, offset: offset) }
                return try damage(at: offset, index: index, expected: "a complete \(RecordFormat.headerSize)-byte record header (\(n - offset) bytes left)")
            }
            if isZero(offset..<offset + RecordFormat.headerSize) {
                if let stray = firstNonZero(from: offset) {
                    return try damage(at: offset, index: index, expected: "only zeros after the last record (found a non-zero byte at offset \(stray))")
                }
                return End(nextIndex: index, offset: offset)
            }
            switch record(at: offset) {
            case .failure(let problem):
                return try damage(at: offset, index: index, expected: "record \(index): \(problem)")
            case .success(let (type, payload)):
                try visit(LogRecord(index: index, type: type, payload: Array(payload)))
                index += 1
                offset += RecordFormat.headerSize + payload.count
            }
        }
    }

    /// The record at `offset`, or what is wrong with it.
    func record(at offset: Int) -> Result<(UInt8, ArraySlice<UInt8>), RecordProblem> {
        let n = bytes.count
        guard offset + RecordFormat.headerSize <= n else { return .failure(.short) }
        let slice = bytes[...]
        let length = Int(slice.loadLittleEndian(UInt32.self, at: offset))
        let available = n - offset - RecordFormat.headerSize
        guard length <= available else { return .failure(.length(length, available: available)) }
        let payloadStart = offset + RecordFormat.headerSize
        let stored = slice.loadLittleEndian(UInt32.self, at: offset + 5)
        let computed = bytes.withUnsafeBytes { raw in
            RecordFormat.checksum(
                header: UnsafeRawBufferPointer(rebasing: raw[offset..<payloadStart]),
                payload: UnsafeRawBufferPointer(rebasing: raw[payloadStart..<payloadStart + length]))
        }
        guard stored == computed else { return .failure(.checksum(expected: computed, found: stored)) }
        return .success((bytes[offset + 4], bytes[payloadStart..<payloadStart + length]))
    }

    enum RecordProblem: Error, CustomStringConvertible {
        case short
        case length(Int, available: Int)
        case checksum(expected: UInt32, found: UInt32)

        var description: String {
            switch self {
            case .short: "a complete record header"
            case .length(let n, let available): "a payload length of at most \(available) bytes, the rest of the file (found \(n))"
            case .checksum(let e, let f): "CRC32C \(hex(e)) (found \(hex(f)))"
            }
        }
    }

    /// A tear in the newest segment when no valid record follows `offset`; corruption otherwise.
    private func damage(at offset: Int, index: UInt64, expected: String) throws(LogError) -> End {
        let following = validRecord(after: offset)
        if newest, following == nil {
            let count = (lastNonZero().map { $0 + 1 } ?? offset) - offset
            return End(nextIndex: index, offset: offset, tear: (offset, max(0, count), expected))
        }
        let message = following.map { expected + "; a valid record follows at offset \($0)" } ?? expected
        throw .corrupt(file: path, offset: offset, expected: message)
    }

    /// The offset of the first valid record starting after `offset`, if any. Only for the
    /// damaged case: it tries every byte position up to the last non-zero byte.
    func validRecord(after offset: Int) -> Int? {
        guard let last = lastNonZero() else { return nil }
        var candidate = offset + 1
        while candidate <= last && candidate + RecordFormat.headerSize <= bytes.count {
            if !isZero(candidate..<candidate + RecordFormat.headerSize), case .success = record(at: candidate) {
                return candidate
            }
            candidate += 1
        }
        return nil
    }

    private func isZero(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == 0 } }
    private func isZero(from offset: Int) -> Bool { firstNonZero(from: offset) == nil }
    /// Compares whole blocks with memcmp first: segments are mostly preallocated zeros, and
    /// every recovery reads them to their end.
    func firstNonZero(from offset: Int) -> Int? {
        bytes.withUnsafeBytes { raw -> Int? in
            var position = offset
            while position + Self.zeroBlockSize <= raw.count,
                  memcmp(raw.baseAddress! + position, Self.zeroBlock, Self.zeroBlockSize) == 0 {
                position += Self.zeroBlockSize
            }
            return raw[position...].firstIndex { $0 != 0 }
        }
    }

    private static let zeroBlockSize = 4096
    nonisolated(unsafe) private static let zeroBlock = UnsafeRawPointer(calloc(zeroBlockSize, 1)!)
    /// Compares whole blocks from the end with memcmp first, as `firstNonZero` does from the
    /// start: a torn tail is followed by the rest of a preallocated segment, megabytes of zeros
    /// that a byte-at-a-time scan takes seconds over in a debug build (most of a minute under
    /// ThreadSanitizer).
    func lastNonZero() -> Int? {
        bytes.withUnsafeBytes { raw -> Int? in
            var end = raw.count
            while end >= Self.zeroBlockSize,
                  memcmp(raw.baseAddress! + end - Self.zeroBlockSize, Self.zeroBlock, Self.zeroBlockSize) == 0 {
                end -= Self.zeroBlockSize
            }
            return raw[..<end].lastIndex { $0 != 0 }
        }
    }
}
