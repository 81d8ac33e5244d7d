// DoozerSnapshot: the store at one revision R as a versioned, checksummed, lz4-compressed,
// chunked byte stream — sent to joining slaves (resumable at a chunk boundary, bounded memory
// on both sides) and written to disk. `SnapshotWriter` encodes, `SnapshotReader` decodes.
//
// Format, version 1. Integers are unsigned and little-endian; CRC32C is DoozerSystem.CRC32C
// (Castagnoli). A stream is a header, zero or more chunks, and a trailer:
//
//   header, 20 bytes
//     0   6  magic "DZSNAP" (44 5A 53 4E 41 50)
//     6   1  version = 1; a reader rejects every version it does not know
//     7   1  flags = 0; reserved, a version-1 reader rejects any set bit
//     8   8  R, the snapshot's revision (u64, at most 2^63 - 1); 0 is the empty new store
//    16   4  CRC32C of bytes 0..<16
//
//   chunk, 13 + C bytes
//     0   1  kind = 0x46 ("F")
//     1   4  C, the compressed length: ⌈N / 255⌉ ≤ C ≤ LZ4_compressBound(N) (no lz4 block
//              expands more than 255-fold, so a few bytes never announce a large chunk)
//     5   4  N, the raw length: 1 ≤ N ≤ 64 MiB (`SnapshotFormat.maxChunkLength`)
//     9   4  CRC32C of the N raw bytes
//    13   C  one LZ4 block that expands to exactly the N raw bytes
//
//   trailer, 13 bytes
//     0   1  kind = 0x45 ("E")
//     1   8  number of files in all chunks
//     9   4  CRC32C of the raw bytes of all chunks, concatenated in order
//
// A chunk's raw bytes are one or more file records, back to back:
//
//     varint  P, the path's length
//     P       the path: a valid file path (§3.1; not "/")
//     varint  the file's rev, 1 ≤ rev ≤ R
//     varint  B, the body's length
//     B       the body
//
// A varint is unsigned LEB128 (7 bits a byte, least significant first, high bit set on all but
// the last byte), minimal (no trailing 0x00 byte) and at most 10 bytes for a u64.
//
// Files come in the store's enumeration order (§3.9: depth-first, every directory's names
// bytewise; that is, paths compared bytewise with "/" ranked below every other byte), each
// strictly after the one before, across chunk boundaries; no file lies below another. A
// record never spans chunks. The writer closes a chunk before the record that would take it
// past its target raw length (256 KiB by default), so a chunk is over the target only when it
// holds a single record; a record longer than 64 MiB cannot be encoded.
//
// Deterministic: for one snapshot and target the raw chunks are always the same, and with one
// liblz4 the bytes are too. A receiver whose connection broke resumes by chunk index, not
// byte offset — the sender regenerates the stream and skips that many chunks without
// compressing them — because another liblz4 version may compress the same raw bytes
// differently. A resumed stream starts at that chunk's frame (no header).
//
// Every byte is checked: the header by its CRC, each chunk's raw bytes by theirs, the set and
// order of the chunks by the trailer's count and stream CRC, and the end of the stream by the
// trailer's presence (nothing may follow it). The checksums cover what the stream says, not how
// it was compressed: a changed byte inside an lz4 block that still expands to the same raw
// bytes (another offset into a repeated run) passes, harmlessly.
//
// Extending it: bytes 0...6 (magic and version) are the same in every version and a reader
// checks them as they arrive; everything after them is the version's to define. Flag bits may
// announce optional features within a version; a reader refuses bits it does not know.
import DoozerSystem

/// The constants of the snapshot format (see the top of Format.swift).
public enum SnapshotFormat {
    public static let magic: [UInt8] = Array("DZSNAP".utf8)
    public static let version: UInt8 = 1
    public static let headerLength = 20
    public static let chunkHeaderLength = 13
    public static let trailerLength = 13
    /// The largest raw length of a chunk, hence of one file record (path, rev, body and their
    /// lengths): a reader never buffers more than this plus its compressed form.
    public static let maxChunkLength = 64 << 20
    /// The raw length a writer fills chunks up to unless told otherwise.
    public static let defaultTargetChunkLength = 256 << 10

    /// The compressed lengths a chunk of `rawLength` (1...`maxChunkLength`) bytes may have:
    /// at least one byte per 255 raw bytes (an lz4 sequence of n bytes yields fewer than
    /// 255 × n), at most lz4's bound for incompressible input.
    public static func compressedLengthRange(rawLength: Int) -> ClosedRange<Int> {
        (rawLength + 254) / 255 ... LZ4.compressBound(rawLength)!
    }

    static let chunkKind: UInt8 = 0x46   // "F"
    static let trailerKind: UInt8 = 0x45 // "E"
}

extension UnsafeRawBufferPointer {
    @inline(__always)
    func littleEndian<T: FixedWidthInteger>(at offset: Int, as: T.Type) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    /// `withUnsafeBytes` keeping the body's error type (the standard one erases it).
    @inline(__always)
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBytes { b in Result { () throws(E) in try body(b) } }.get()
    }

    /// `withUnsafeMutableBytes` keeping the body's error type.
    @inline(__always)
    mutating func withMutableBytes<R, E: Error>(_ body: (UnsafeMutableRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeMutableBytes { b in Result { () throws(E) in try body(b) } }.get()
    }
}
