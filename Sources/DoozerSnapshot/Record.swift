import DoozerStore

/// Unsigned LEB128 varints, minimal, at most 10 bytes (see Format.swift).
enum Varint {
    static func length(_ v: UInt64) -> Int {
        max(1, (64 - v.leadingZeroBitCount + 6) / 7)
    }

    static func append(_ v: UInt64, to out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}

/// File records: encoding into a chunk's raw bytes. Owns the record layout and nothing else.
enum FileRecord {
    /// The encoded length of `file`'s record.
    static func length(_ file: Snapshot.WalkHit) -> Int {
        Varint.length(UInt64(file.path.count)) + file.path.count + Varint.length(UInt64(file.rev))
            + Varint.length(UInt64(file.body.count)) + file.body.count
    }

    static func append(_ file: Snapshot.WalkHit, to raw: inout [UInt8]) {
        Varint.append(UInt64(file.path.count), to: &raw)
        raw.append(contentsOf: file.path)
        Varint.append(UInt64(file.rev), to: &raw)
        Varint.append(UInt64(file.body.count), to: &raw)
        raw.append(contentsOf: file.body)
    }
}

/// What is wrong with a record, and the raw offset of the record or field it is in.
struct RecordProblem: Error {
    let reason: SnapshotError.Reason
    let offset: Int
}

/// Splits a chunk's raw bytes into records, checking only their syntax (varints, lengths
/// within the chunk); what the fields mean is the `SnapshotReader`'s to check. Borrows the
/// bytes; never allocates.
struct RecordScanner {
    struct Record {
        let path: UnsafeRawBufferPointer
        let rev: UInt64
        let body: UnsafeRawBufferPointer
        /// Where the record starts in the raw bytes.
        let offset: Int
    }

    private let raw: UnsafeRawBufferPointer
    private var position = 0

    init(_ raw: UnsafeRawBufferPointer) {
        self.raw = raw
    }

    /// The next record, or nil at the end of the raw bytes.
    mutating func next() throws(RecordProblem) -> Record? {
        guard position < raw.count else { return nil }
        let start = position
        let pathLength = try varint(.pathLength)
        let path = try bytes(pathLength, .path)
        let rev = try varint(.rev)
        let bodyLength = try varint(.bodyLength)
        let body = try bytes(bodyLength, .body)
        return Record(path: path, rev: rev, body: body, offset: start)
    }

    private mutating func varint(_ field: SnapshotError.Field) throws(RecordProblem) -> UInt64 {
        let start = position
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < raw.count else { throw RecordProblem(reason: .truncatedRecord(field), offset: start) }
            let byte = raw[position]
            position += 1
            let bits = UInt64(byte & 0x7F)
            // The 10th byte may only be 0x01 (the top bit of a u64); a last byte of 0 after
            // others is not minimal.
            guard shift < 63 || byte == 0x01, byte != 0 || shift == 0 else {
                throw RecordProblem(reason: .malformedVarint(field), offset: start)
            }
            value |= bits << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    private mutating func bytes(_ count: UInt64, _ field: SnapshotError.Field) throws(RecordProblem) -> UnsafeRawBufferPointer {
        guard count <= UInt64(raw.count - position) else {
            throw RecordProblem(reason: .truncatedRecord(field), offset: position)
        }
        let slice = UnsafeRawBufferPointer(rebasing: raw[position..<position + Int(count)])
        position += Int(count)
        return slice
    }
}
