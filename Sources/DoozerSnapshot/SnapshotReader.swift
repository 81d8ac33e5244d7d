import DoozerStore
import DoozerSystem

/// Decodes a snapshot stream (Format.swift) fed in pieces split anywhere, validating every
/// byte, and builds the tree it describes as a `Snapshot` at revision R, ready for
/// `Store(history:restoring:)` (B8: installed as R, history from R + 1).
///
/// Owns the tree being built and a buffer for at most one unit (a chunk frame, at most
/// `SnapshotFormat.maxChunkLength` plus its lz4 bound) and one chunk's raw bytes: lengths are
/// checked before anything is buffered for them. It never trusts a length, never crashes on
/// any input, does no I/O and never blocks. The first error is final.
public struct SnapshotReader {
    private enum Stage { case header, units, complete }
    private var stage = Stage.header
    private var tree = Snapshot(emptyAt: 0)
    private var previousPath: [UInt8] = []
    private var fileCount: UInt64 = 0
    private var streamChecksum = CRC32C()
    private var failure: SnapshotError? = nil
    /// The start of a unit that has not fully arrived.
    private var pending: [UInt8] = []
    /// The raw bytes of the chunk being decoded; its capacity is reused.
    private var raw: [UInt8] = []

    /// How many chunks have been accepted: where a resumed stream must continue.
    public private(set) var chunksAccepted = 0
    /// The stream offset just after the last accepted unit (the header, a chunk or the trailer).
    public private(set) var acceptedOffset = 0

    public init() {}

    /// The snapshot's revision R, once the header is accepted.
    public var revision: Int64? { stage == .header ? nil : tree.rev }

    /// Whether the trailer has been accepted: `finish()` returns the snapshot.
    public var isComplete: Bool { stage == .complete && failure == nil }

    /// Consumes the next bytes of the stream, accepting every unit they complete.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
        if let failure { throw failure }
        do throws(SnapshotError) {
            var rest = bytes[...]
            while !rest.isEmpty {
                // A whole unit at the front of `rest` is accepted in place, without copying.
                if pending.isEmpty, case .exactly(let n) = try need(UnsafeRawBufferPointer(rebasing: rest)),
                   n <= rest.count {
                    try accept(UnsafeRawBufferPointer(rebasing: rest.prefix(n)))
                    rest = rest.dropFirst(n)
                    continue
                }
                let wanted = try pending.withBytes { p throws(SnapshotError) in try need(p) }
                let take = min(wanted.count - pending.count, rest.count)
                pending.append(contentsOf: rest.prefix(take))
                rest = rest.dropFirst(take)
                if case .exactly(let n) = wanted, pending.count == n {
                    var unit: [UInt8] = []
                    swap(&unit, &pending)
                    try unit.withBytes { u throws(SnapshotError) in try accept(u) }
                    unit.removeAll(keepingCapacity: true)
                    swap(&unit, &pending)
                }
            }
        } catch {
            failure = error
            throw error
        }
    }

    public mutating func feed(_ bytes: [UInt8]) throws(SnapshotError) {
        try bytes.withBytes { b throws(SnapshotError) in try feed(b) }
    }

    /// The decoded snapshot, at revision R. Throws the reader's error, or `truncated` if the
    /// trailer has not arrived.
    public func finish() throws(SnapshotError) -> Snapshot {
        if let failure { throw failure }
        let part: SnapshotError.Part
        switch stage {
        case .complete: return tree
        case .header: part = .header
        case .units:
            part = pending.isEmpty ? .chunkOrTrailer
                : pending[0] == SnapshotFormat.trailerKind ? .trailer : .chunk
        }
        throw SnapshotError(reason: .truncated(part), location: .stream(offset: acceptedOffset + pending.count))
    }

    /// Prepares to continue over a new connection after the old one broke: drops the bytes
    /// of a unit that did not fully arrive, and returns the chunk index to resume at
    /// (`SnapshotWriter(_:resumingAtChunk:)`, same snapshot and target). Nil means there is
    /// nothing to resume — the header never arrived, or the reader failed — so start over
    /// from the beginning of the stream (with a new reader after a failure).
    public mutating func rewindForResume() -> Int? {
        pending = []
        if failure != nil || stage == .header { return nil }
        return chunksAccepted
    }

    // MARK: units

    private enum Need {
        case exactly(Int)
        case atLeast(Int)
        var count: Int {
            switch self {
            case .exactly(let n), .atLeast(let n): return n
            }
        }
    }

    /// How long the unit starting with `prefix` is, as far as its first bytes tell; checks
    /// those bytes, so nothing is buffered for a unit that is bad from the start.
    private func need(_ prefix: UnsafeRawBufferPointer) throws(SnapshotError) -> Need {
        switch stage {
        case .header:
            try checkLeadIn(prefix)
            return .exactly(SnapshotFormat.headerLength)
        case .complete:
            throw error(.bytesAfterTrailer, at: 0)
        case .units:
            guard let kind = prefix.first else { return .atLeast(1) }
            switch kind {
            case SnapshotFormat.trailerKind:
                return .exactly(SnapshotFormat.trailerLength)
            case SnapshotFormat.chunkKind:
                guard prefix.count >= SnapshotFormat.chunkHeaderLength else {
                    return .atLeast(SnapshotFormat.chunkHeaderLength)
                }
                let rawLength = prefix.littleEndian(at: 5, as: UInt32.self)
                guard rawLength >= 1, rawLength <= SnapshotFormat.maxChunkLength else {
                    throw error(.rawLengthOutOfRange(rawLength), at: 5)
                }
                let compressed = prefix.littleEndian(at: 1, as: UInt32.self)
                let allowed = SnapshotFormat.compressedLengthRange(rawLength: Int(rawLength))
                guard allowed.contains(Int(compressed)) else {
                    throw error(.compressedLengthOutOfRange(compressed, minimum: allowed.lowerBound,
                                                            limit: allowed.upperBound), at: 1)
                }
                return .exactly(SnapshotFormat.chunkHeaderLength + Int(compressed))
            default:
                throw error(.unknownKind(kind), at: 0)
            }
        }
    }

    /// Accepts one whole unit, the one `need` measured.
    private mutating func accept(_ unit: UnsafeRawBufferPointer) throws(SnapshotError) {
        switch stage {
        case .header: try acceptHeader(unit)
        case .units where unit[0] == SnapshotFormat.chunkKind: try acceptChunk(unit)
        case .units: try acceptTrailer(unit)
        case .complete: throw error(.bytesAfterTrailer, at: 0)
        }
        acceptedOffset += unit.count
    }

    /// Checks as much of the magic and version (bytes 0...6, the same in every version) as
    /// `prefix` holds, so a stream that is not a snapshot, or of an unknown version, is
    /// refused from its first bytes whatever the length of its header.
    private func checkLeadIn(_ prefix: UnsafeRawBufferPointer) throws(SnapshotError) {
        guard prefix.prefix(SnapshotFormat.magic.count).elementsEqual(
            SnapshotFormat.magic.prefix(prefix.count)) else { throw error(.badMagic, at: 0) }
        if prefix.count > 6, prefix[6] != SnapshotFormat.version {
            throw error(.unsupportedVersion(prefix[6]), at: 6)
        }
    }

    private mutating func acceptHeader(_ h: UnsafeRawBufferPointer) throws(SnapshotError) {
        try checkLeadIn(h)
        let stored = h.littleEndian(at: 16, as: UInt32.self)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: h[..<16]))
        guard stored == computed else {
            throw error(.headerChecksumMismatch(stored: stored, computed: computed), at: 16)
        }
        guard h[7] == 0 else { throw error(.unknownFlags(h[7]), at: 7) }
        let revision = h.littleEndian(at: 8, as: UInt64.self)
        guard revision <= UInt64(Int64.max) else { throw error(.revisionTooLarge(revision), at: 8) }
        tree = Snapshot(emptyAt: Int64(revision))
        stage = .units
    }

    private mutating func acceptChunk(_ frame: UnsafeRawBufferPointer) throws(SnapshotError) {
        let rawLength = Int(frame.littleEndian(at: 5, as: UInt32.self))
        if raw.count < rawLength { raw = [UInt8](repeating: 0, count: rawLength) }
        var buffer: [UInt8] = []
        swap(&buffer, &raw)  // `raw` is read while `self` changes
        defer { swap(&buffer, &raw) }
        try buffer.withMutableBytes { b throws(SnapshotError) in
            let bytes = UnsafeMutableRawBufferPointer(rebasing: b[..<rawLength])
            try expand(frame, into: bytes)
            try addRecords(UnsafeRawBufferPointer(bytes))
            streamChecksum.update(UnsafeRawBufferPointer(bytes))
        }
        chunksAccepted += 1
    }

    /// Decompresses the chunk in `frame` into `bytes` (its raw length) and checks its CRC.
    private func expand(_ frame: UnsafeRawBufferPointer, into bytes: UnsafeMutableRawBufferPointer) throws(SnapshotError) {
        do {
            try LZ4.decompress(UnsafeRawBufferPointer(rebasing: frame[SnapshotFormat.chunkHeaderLength...]), into: bytes)
        } catch {
            throw self.error(.corruptBlock, at: SnapshotFormat.chunkHeaderLength)
        }
        let stored = frame.littleEndian(at: 9, as: UInt32.self)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(bytes))
        guard stored == computed else {
            throw self.error(.chunkChecksumMismatch(stored: stored, computed: computed), at: 9)
        }
    }

    /// Adds the files of one chunk's raw bytes to the tree.
    private mutating func addRecords(_ raw: UnsafeRawBufferPointer) throws(SnapshotError) {
        var records = RecordScanner(raw)
        do throws(RecordProblem) {
            while let record = try records.next() {
                if let reason = add(record) { throw RecordProblem(reason: reason, offset: record.offset) }
            }
        } catch {
            throw SnapshotError(reason: error.reason, location: .record(
                chunk: chunksAccepted, frameOffset: acceptedOffset, rawOffset: error.offset))
        }
    }

    /// Adds one file to the tree; the reason it cannot be, if any.
    private mutating func add(_ record: RecordScanner.Record) -> SnapshotError.Reason? {
        let path = record.path
        guard path.count > 1, PathSyntax.isValid(path) else { return .invalidPath(Array(path)) }
        guard previousPath.isEmpty || previousPath.withUnsafeBytes({ FileCursor.precedes($0, path) }) else {
            return .pathOutOfOrder(previous: previousPath, path: Array(path))
        }
        guard record.rev >= 1, record.rev <= UInt64(tree.rev) else {
            return .revOutOfRange(record.rev, revision: tree.rev)
        }
        // Files arrive in order, so the path cannot be a directory yet: only a file above it
        // can refuse the insertion.
        guard tree.insertFile(path, body: Array(record.body), rev: Int64(record.rev)) else {
            return .pathBelowFile(Array(path))
        }
        previousPath.removeAll(keepingCapacity: true)
        previousPath.append(contentsOf: path)
        fileCount += 1
        return nil
    }

    private mutating func acceptTrailer(_ t: UnsafeRawBufferPointer) throws(SnapshotError) {
        let stored = t.littleEndian(at: 1, as: UInt64.self)
        guard stored == fileCount else { throw error(.fileCountMismatch(stored: stored, counted: fileCount), at: 1) }
        let storedChecksum = t.littleEndian(at: 9, as: UInt32.self)
        guard storedChecksum == streamChecksum.value else {
            throw error(.streamChecksumMismatch(stored: storedChecksum, computed: streamChecksum.value), at: 9)
        }
        stage = .complete
    }

    /// An error at byte `field` of the unit that starts at `acceptedOffset`.
    private func error(_ reason: SnapshotError.Reason, at field: Int) -> SnapshotError {
        SnapshotError(reason: reason, location: .stream(offset: acceptedOffset + field))
    }
}
