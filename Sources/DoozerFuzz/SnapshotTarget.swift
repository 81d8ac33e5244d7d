import DoozerSnapshot
import DoozerStore
import DoozerSystem

/// Snapshot streams fed to `SnapshotReader` in pieces. The first input byte picks the piece
/// size (its upper seven bits) and what the rest is (its low bit): a whole stream as is, which
/// exercises the header, the framing and lz4 on any bytes; or one chunk's raw bytes, which
/// are wrapped in a valid header, lz4 block, checksums and trailer so that the record decoding
/// and the tree building behind them are reached too. A stream the reader accepts must
/// re-encode to one it accepts again, with the same bytes the second time.
enum SnapshotTarget {
    static let revision: UInt64 = 1 << 20
    /// Unit kinds (Format.swift): a chunk, the trailer.
    static let chunkKind: UInt8 = 0x46
    static let trailerKind: UInt8 = 0x45

    static func run(_ input: UnsafeRawBufferPointer) throws(FuzzFailure) {
        guard let mode = input.first else { return }
        let rest = Array(input[1...])
        let stream = mode & 1 == 0 ? rest : wrap(records: rest)
        guard let snapshot = read(stream, pieces: Int(mode >> 1) + 1) else { return }
        let encoded: [UInt8]
        do { encoded = try write(snapshot) } catch {
            throw FuzzFailure("snapshot read from \(stream) does not encode: \(error)")
        }
        guard let again = read(encoded, pieces: encoded.count) else {
            throw FuzzFailure("snapshot read from \(stream) re-encodes to an unreadable \(encoded)")
        }
        let twice: [UInt8]
        do { twice = try write(again) } catch {
            throw FuzzFailure("re-read snapshot \(encoded) does not encode: \(error)")
        }
        try expect(twice == encoded, "stream \(stream) re-encodes as \(encoded), then as \(twice)")
    }

    /// The snapshot in `stream`, fed `pieces` bytes at a time, or nil if the reader refuses it.
    static func read(_ stream: [UInt8], pieces: Int) -> Snapshot? {
        var reader = SnapshotReader()
        var start = 0
        while start < stream.count {
            let end = min(stream.count, start + pieces)
            guard (try? reader.feed(Array(stream[start..<end]))) != nil else { return nil }
            start = end
        }
        return try? reader.finish()
    }

    /// Small chunks, so that every snapshot takes several.
    static func write(_ snapshot: Snapshot) throws(SnapshotEncodingError) -> [UInt8] {
        var writer = SnapshotWriter(snapshot, targetChunkLength: 64)
        var out: [UInt8] = []
        while let unit = try writer.next() { out += unit }
        return out
    }

    /// A stream of one chunk holding `raw` (if lz4 takes it), with correct checksums and a
    /// trailer counting the records a lenient walk finds in it.
    static func wrap(records raw: [UInt8]) -> [UInt8] {
        var header = SnapshotFormat.magic + [SnapshotFormat.version, 0]
        appendLittleEndian(revision, bytes: 8, to: &header)
        appendLittleEndian(UInt64(CRC32C.checksum(header)), bytes: 4, to: &header)
        var stream = header
        if !raw.isEmpty, let block = try? LZ4.compress(raw) {
            stream.append(chunkKind)
            appendLittleEndian(UInt64(block.count), bytes: 4, to: &stream)
            appendLittleEndian(UInt64(raw.count), bytes: 4, to: &stream)
            appendLittleEndian(UInt64(CRC32C.checksum(raw)), bytes: 4, to: &stream)
            stream += block
        }
        stream.append(trailerKind)
        appendLittleEndian(recordCount(raw), bytes: 8, to: &stream)
        appendLittleEndian(UInt64(CRC32C.checksum(raw)), bytes: 4, to: &stream)
        return stream
    }

    /// Records in `raw` (path length, path, rev, body length, body), up to the first that
    /// does not fit.
    static func recordCount(_ raw: [UInt8]) -> UInt64 {
        var position = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 70, by: 7) where position < raw.count {
                let byte = raw[position]
                position += 1
                value |= UInt64(byte & 0x7F) << UInt64(min(shift, 63))
                if byte < 0x80 { return value }
            }
            return nil
        }
        var count: UInt64 = 0
        while position < raw.count {
            guard let pathLength = varint(), pathLength <= UInt64(raw.count - position) else { break }
            position += Int(pathLength)
            guard varint() != nil, let bodyLength = varint(), bodyLength <= UInt64(raw.count - position) else { break }
            position += Int(bodyLength)
            count += 1
        }
        return count
    }

    static func appendLittleEndian(_ value: UInt64, bytes: Int, to out: inout [UInt8]) {
        for i in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * i))) }
    }

    static var seeds: [[UInt8]] {
        var tree = Snapshot(emptyAt: 9)
        for (path, rev) in [("/a", 1), ("/b/c", 4), ("/b/d", 9), ("/ctl/node/A/addr", 2)] {
            _ = tree.insertFile(path, body: Array("body of \(path)".utf8), rev: Int64(rev))
        }
        let whole = (try? write(tree)) ?? []
        let empty = (try? write(Snapshot(emptyAt: 0))) ?? []
        var records: [UInt8] = []
        for (path, body) in [("/a/b", "x"), ("/a/c", ""), ("/z", "\u{0}\u{ff}")] {
            records.append(UInt8(path.utf8.count))
            records += Array(path.utf8)
            records += [3, UInt8(body.utf8.count)]
            records += Array(body.utf8)
        }
        return [[0xFE] + whole, [0x06] + whole, [0x00] + empty, [0x01] + records, [0x21] + records]
    }
}
