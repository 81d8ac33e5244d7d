/// Why a `SnapshotReader` rejected a stream, and where. Every rejection is final: the reader
/// keeps reporting it, and the receiver starts over.
public struct SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: Reason
    public let location: Location

    public enum Location: Equatable, Sendable {
        /// Byte `offset` of the stream (counted from its beginning, also across a resume).
        case stream(offset: Int)
        /// Byte `rawOffset` of the raw (decompressed) bytes of chunk `chunk` (0-based), whose
        /// frame starts at stream byte `frameOffset`.
        case record(chunk: Int, frameOffset: Int, rawOffset: Int)
    }

    /// The fields of a file record.
    public enum Field: String, Sendable {
        case pathLength = "path length"
        case path
        case rev
        case bodyLength = "body length"
        case body
    }

    /// The parts of a stream.
    public enum Part: String, Sendable {
        case header
        case chunkOrTrailer = "chunk or trailer"
        case chunk
        case trailer
    }

    public enum Reason: Equatable, Sendable {
        case badMagic
        case unsupportedVersion(UInt8)
        case headerChecksumMismatch(stored: UInt32, computed: UInt32)
        case unknownFlags(UInt8)
        case revisionTooLarge(UInt64)
        /// A unit starts with a byte that is neither a chunk's nor the trailer's kind.
        case unknownKind(UInt8)
        case rawLengthOutOfRange(UInt32)
        /// Outside `minimum...limit`: the lz4 block could not expand to the raw length
        /// (`SnapshotFormat.compressedLengthRange`).
        case compressedLengthOutOfRange(UInt32, minimum: Int, limit: Int)
        /// The lz4 block is corrupt or does not expand to exactly the raw length.
        case corruptBlock
        case chunkChecksumMismatch(stored: UInt32, computed: UInt32)
        case truncatedRecord(Field)
        case malformedVarint(Field)
        case invalidPath([UInt8])
        case pathOutOfOrder(previous: [UInt8], path: [UInt8])
        case pathBelowFile([UInt8])
        case revOutOfRange(UInt64, revision: Int64)
        case fileCountMismatch(stored: UInt64, counted: UInt64)
        case streamChecksumMismatch(stored: UInt32, computed: UInt32)
        case bytesAfterTrailer
        /// The stream ended early: the part it ended in (or before).
        case truncated(Part)
    }

    public var description: String {
        let at: String
        switch location {
        case .stream(let offset):
            at = "byte \(offset)"
        case .record(let chunk, let frameOffset, let rawOffset):
            at = "chunk \(chunk) (stream byte \(frameOffset)), raw byte \(rawOffset)"
        }
        return "snapshot: \(at): \(reason)"
    }
}

extension SnapshotError.Reason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .badMagic:
            return "expected the magic bytes \"DZSNAP\""
        case .unsupportedVersion(let v):
            return "unsupported format version \(v) (this reader knows version \(SnapshotFormat.version))"
        case .headerChecksumMismatch(let stored, let computed):
            return "header checksum \(hex(stored)) does not match its bytes (\(hex(computed)))"
        case .unknownFlags(let f):
            return "unknown header flags \(hex(f)) (version 1 defines none)"
        case .revisionTooLarge(let r):
            return "revision \(r) is above the largest revision \(Int64.max)"
        case .unknownKind(let k):
            return "expected a chunk (\(hex(SnapshotFormat.chunkKind))) or the trailer "
                + "(\(hex(SnapshotFormat.trailerKind))), found \(hex(k))"
        case .rawLengthOutOfRange(let n):
            return "raw chunk length \(n) is outside 1...\(SnapshotFormat.maxChunkLength)"
        case .compressedLengthOutOfRange(let n, let minimum, let limit):
            return "compressed chunk length \(n) is outside \(minimum)...\(limit)"
        case .corruptBlock:
            return "the lz4 block is corrupt or does not expand to the raw length"
        case .chunkChecksumMismatch(let stored, let computed):
            return "chunk checksum \(hex(stored)) does not match its raw bytes (\(hex(computed)))"
        case .truncatedRecord(let field):
            return "the record's \(field.rawValue) runs past the end of the chunk"
        case .malformedVarint(let field):
            return "the record's \(field.rawValue) is not a minimal varint of at most 64 bits"
        case .invalidPath(let path):
            return "invalid file path \(quoted(path))"
        case .pathOutOfOrder(let previous, let path):
            return "path \(quoted(path)) does not sort after the previous path \(quoted(previous))"
        case .pathBelowFile(let path):
            return "path \(quoted(path)) lies below a file"
        case .revOutOfRange(let rev, let revision):
            return "file rev \(rev) is outside 1...\(revision)"
        case .fileCountMismatch(let stored, let counted):
            return "the trailer counts \(stored) files, the chunks held \(counted)"
        case .streamChecksumMismatch(let stored, let computed):
            return "stream checksum \(hex(stored)) does not match the chunks' raw bytes (\(hex(computed)))"
        case .bytesAfterTrailer:
            return "bytes after the trailer"
        case .truncated(let part):
            return part == .chunkOrTrailer ? "the stream ends where a chunk or the trailer was expected"
                : "the stream ends inside the \(part.rawValue)"
        }
    }
}

private func hex<T: FixedWidthInteger>(_ v: T) -> String {
    "0x" + String(v, radix: 16, uppercase: true)
}

/// A path for a message: printable ASCII as is, other bytes as \xHH, at most 100 bytes shown.
private func quoted(_ bytes: [UInt8]) -> String {
    var s = "\""
    for b in bytes.prefix(100) {
        if b >= 0x20 && b < 0x7F && b != 0x22 && b != 0x5C {
            s.unicodeScalars.append(Unicode.Scalar(b))
        } else {
            s += "\\x" + (b < 0x10 ? "0" : "") + String(b, radix: 16, uppercase: true)
        }
    }
    return s + (bytes.count > 100 ? "\"…" : "\"")
}
