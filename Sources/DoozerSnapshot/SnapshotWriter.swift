import DoozerStore
import DoozerSystem

/// Why a `SnapshotWriter` cannot produce a stream.
public enum SnapshotEncodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file's record is longer than a chunk may be (`SnapshotFormat.maxChunkLength`).
    case fileTooLarge(path: [UInt8], recordLength: Int)
    /// A file's rev is outside 1...R (only a hand-built snapshot can have one).
    case revOutOfRange(path: [UInt8], rev: Int64, revision: Int64)
    /// A resume asked for a chunk past the last one; the stream has `chunkCount` chunks.
    case resumeBeyondEnd(chunk: Int, chunkCount: Int)

    public var description: String {
        switch self {
        case .fileTooLarge(let path, let length):
            return "snapshot: the record of \(String(decoding: path, as: UTF8.self)) is \(length) bytes, "
                + "above the chunk limit of \(SnapshotFormat.maxChunkLength)"
        case .revOutOfRange(let path, let rev, let revision):
            return "snapshot: \(String(decoding: path, as: UTF8.self)) has rev \(rev), outside 1...\(revision)"
        case .resumeBeyondEnd(let chunk, let count):
            return "snapshot: cannot resume at chunk \(chunk), the stream has \(count) chunks"
        }
    }
}

/// Encodes one `Snapshot` as a snapshot stream (Format.swift), a unit at a time: the header,
/// each chunk, the trailer. Memory is bounded by one chunk plus the file cursor's stack; the
/// snapshot is immutable, so the stream is the same however long it takes to send.
/// Owns its cursor and chunk buffer; it never blocks, does no I/O and never changes the tree.
public struct SnapshotWriter {
    /// The revision R of the snapshot being encoded.
    public let revision: Int64
    /// The raw length chunks are filled up to; the same snapshot and target give the same
    /// chunks, so a resumed stream must use the target of the one it continues.
    public let targetChunkLength: Int
    /// The index of the next chunk: how many have been produced or skipped.
    public private(set) var chunkIndex = 0

    private enum Stage { case header, chunks, finished }
    private var stage = Stage.header

    /// Whether the trailer has been produced: the last `next()` returned the final unit.
    public var isFinished: Bool { stage == .finished }
    private var files: FileCursor
    /// The file that did not fit into the last chunk, which opens the next.
    private var carried: Snapshot.WalkHit? = nil
    /// The raw bytes of the current chunk; its capacity is reused.
    private var raw: [UInt8] = []
    private var fileCount: UInt64 = 0
    private var streamChecksum = CRC32C()

    /// A writer of the whole stream of `snapshot`, header first. Requires `snapshot.rev` ≥ 0
    /// (as every store revision is) and a target of 1...`SnapshotFormat.maxChunkLength`.
    public init(_ snapshot: Snapshot, targetChunkLength: Int = SnapshotFormat.defaultTargetChunkLength) {
        precondition(snapshot.rev >= 0, "a snapshot's revision is never negative")
        precondition((1...SnapshotFormat.maxChunkLength).contains(targetChunkLength),
                     "target chunk length outside 1...maxChunkLength")
        self.revision = snapshot.rev
        self.targetChunkLength = targetChunkLength
        self.files = snapshot.fileCursor()
    }

    /// A writer of the stream of `snapshot` from chunk `chunk` on, for a receiver that holds
    /// the header and chunks 0..<chunk: the skipped chunks are built (for the trailer's count
    /// and checksum) but not compressed. `chunk` may be the chunk count (only the trailer is
    /// left).
    public init(_ snapshot: Snapshot, resumingAtChunk chunk: Int,
                targetChunkLength: Int = SnapshotFormat.defaultTargetChunkLength) throws(SnapshotEncodingError) {
        self.init(snapshot, targetChunkLength: targetChunkLength)
        stage = .chunks
        while chunkIndex < chunk {
            guard try fillChunk() else { throw .resumeBeyondEnd(chunk: chunk, chunkCount: chunkIndex) }
        }
    }

    /// The next unit of the stream — the header, a chunk or the trailer — or nil after the
    /// trailer.
    public mutating func next() throws(SnapshotEncodingError) -> [UInt8]? {
        switch stage {
        case .header:
            stage = .chunks
            return header()
        case .chunks:
            if try fillChunk() { return chunkFrame() }
            stage = .finished
            return trailer()
        case .finished:
            return nil
        }
    }

    private func header() -> [UInt8] {
        var out = SnapshotFormat.magic
        out.reserveCapacity(SnapshotFormat.headerLength)
        out.append(SnapshotFormat.version)
        out.append(0)  // flags
        out.appendLittleEndian(UInt64(revision))
        out.appendLittleEndian(CRC32C.checksum(out))
        return out
    }

    /// Fills `raw` with the next chunk's records; false when no file is left.
    private mutating func fillChunk() throws(SnapshotEncodingError) -> Bool {
        raw.removeAll(keepingCapacity: true)
        while let file = carried ?? files.next() {
            carried = nil
            guard file.rev >= 1, file.rev <= revision else {
                throw .revOutOfRange(path: file.path, rev: file.rev, revision: revision)
            }
            let length = FileRecord.length(file)
            guard length <= SnapshotFormat.maxChunkLength else {
                throw .fileTooLarge(path: file.path, recordLength: length)
            }
            if !raw.isEmpty && raw.count + length > targetChunkLength {
                carried = file
                break
            }
            FileRecord.append(file, to: &raw)
            fileCount += 1
        }
        if raw.isEmpty { return false }
        streamChecksum.update(raw)
        chunkIndex += 1
        return true
    }

    /// The frame of the chunk in `raw`.
    private func chunkFrame() -> [UInt8] {
        let headerLength = SnapshotFormat.chunkHeaderLength
        let bound = LZ4.compressBound(raw.count)!  // raw.count ≤ maxChunkLength < LZ4.maxInputCount
        return [UInt8](unsafeUninitializedCapacity: headerLength + bound) { out, count in
            let frame = UnsafeMutableRawBufferPointer(out)
            let compressed = raw.withUnsafeBytes { src in
                do {
                    return try LZ4.compress(src, into: UnsafeMutableRawBufferPointer(rebasing: frame[headerLength...]))
                } catch {
                    preconditionFailure("lz4 refused a chunk within its limits: \(error)")
                }
            }
            frame[0] = SnapshotFormat.chunkKind
            frame.storeBytes(of: UInt32(compressed).littleEndian, toByteOffset: 1, as: UInt32.self)
            frame.storeBytes(of: UInt32(raw.count).littleEndian, toByteOffset: 5, as: UInt32.self)
            frame.storeBytes(of: CRC32C.checksum(raw).littleEndian, toByteOffset: 9, as: UInt32.self)
            count = headerLength + compressed
        }
    }

    private func trailer() -> [UInt8] {
        var out = [SnapshotFormat.trailerKind]
        out.reserveCapacity(SnapshotFormat.trailerLength)
        out.appendLittleEndian(fileCount)
        out.appendLittleEndian(streamChecksum.value)
        return out
    }
}
