import DoozerSystem

/// The on-disk layout of one record: a 9-byte header, then the payload. All integers are
/// little-endian.
///
///     offset 0  UInt32  payload length in bytes
///     offset 4  UInt8   record type (opaque to the log)
///     offset 5  UInt32  CRC32C of bytes 0..<5 followed by the payload
///
/// The checksum covers the length too, so a damaged length is caught like a damaged payload.
/// Nine zero bytes (length 0, type 0, checksum 0) never form a valid record — the CRC32C of
/// five zero bytes is not 0 — and mark the end of a segment's records: segments are
/// preallocated, so the space after the last record reads as zeros.
public enum RecordFormat {
    public static let headerSize = 9

    /// Writes the header and payload of one record to the end of `buffer`.
    static func append(type: UInt8, payload: UnsafeRawBufferPointer, to buffer: inout [UInt8]) {
        let start = buffer.count
        buffer.appendLittleEndian(UInt32(payload.count))
        buffer.append(type)
        let crc = buffer.withUnsafeBytes { checksum(header: UnsafeRawBufferPointer(rebasing: $0[start...]), payload: payload) }
        buffer.appendLittleEndian(crc)
        buffer.append(contentsOf: payload)
    }

    /// The checksum a record with this header and payload must carry.
    static func checksum(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32C()
        crc.update(UnsafeRawBufferPointer(rebasing: header[0..<5]))
        crc.update(payload)
        return crc.value
    }
}

/// The first bytes of every segment file. Little-endian.
///
///     offset 0   8 bytes  magic "DOOZLOG\n"
///     offset 8   UInt32   format version (1)
///     offset 12  UInt32   header size (32)
///     offset 16  UInt64   index of the segment's first record
///     offset 24  UInt32   zero (reserved)
///     offset 28  UInt32   CRC32C of bytes 0..<28
public struct SegmentHeader: Equatable, Sendable {
    public static let size = 32
    public static let version: UInt32 = 1
    static let magic: [UInt8] = Array("DOOZLOG\n".utf8)

    public var firstIndex: UInt64

    public init(firstIndex: UInt64) { self.firstIndex = firstIndex }

    var bytes: [UInt8] {
        var out = Self.magic
        out.reserveCapacity(Self.size)
        out.appendLittleEndian(Self.version)
        out.appendLittleEndian(UInt32(Self.size))
        out.appendLittleEndian(firstIndex)
        out.appendLittleEndian(UInt32(0))
        out.appendLittleEndian(CRC32C.checksum(out))
        return out
    }

    /// Decodes a header, or says what was wrong with it.
    static func decode(_ bytes: ArraySlice<UInt8>) -> Result<SegmentHeader, HeaderProblem> {
        guard bytes.count >= size else { return .failure(.short(bytes.count)) }
        let start = bytes.startIndex
        guard Array(bytes[start..<start + 8]) == magic else { return .failure(.magic) }
        let stored = bytes.loadLittleEndian(UInt32.self, at: start + 28)
        let computed = CRC32C.checksum(Array(bytes[start..<start + 28]))
        guard stored == computed else { return .failure(.checksum(expected: computed, found: stored)) }
        let version = bytes.loadLittleEndian(UInt32.self, at: start + 8)
        guard version == Self.version else { return .failure(.version(version)) }
        let headerSize = bytes.loadLittleEndian(UInt32.self, at: start + 12)
        guard headerSize == UInt32(size) else { return .failure(.headerSize(headerSize)) }
        return .success(SegmentHeader(firstIndex: bytes.loadLittleEndian(UInt64.self, at: start + 16)))
    }

    enum HeaderProblem: Error, CustomStringConvertible {
        case short(Int)
        case magic
        case checksum(expected: UInt32, found: UInt32)
        case version(UInt32)
        case headerSize(UInt32)

        var description: String {
            switch self {
            case .short(let n): "a \(SegmentHeader.size)-byte segment header (the file has \(n) bytes)"
            case .magic: "the segment magic \"DOOZLOG\\n\""
            case .checksum(let e, let f): "segment header CRC32C \(hex(e)) (found \(hex(f)))"
            case .version(let v): "format version \(SegmentHeader.version) (found \(v))"
            case .headerSize(let s): "header size \(SegmentHeader.size) (found \(s))"
            }
        }
    }
}

/// Segment files are named by their first record's index: twenty decimal digits and ".log",
/// so names sort in index order.
enum SegmentName {
    static let suffix = ".log"

    static func name(firstIndex: UInt64) -> String {
        let digits = String(firstIndex)
        return String(repeating: "0", count: 20 - digits.count) + digits + suffix
    }

    /// The first index a segment file name stands for, or nil for any other file.
    static func firstIndex(of name: String) -> UInt64? {
        guard name.utf8.count == 20 + suffix.utf8.count, name.hasSuffix(suffix) else { return nil }
        let digits = name.utf8.prefix(20)
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }
}

func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var le = value.littleEndian
        Swift.withUnsafeBytes(of: &le) { append(contentsOf: $0) }
    }

    /// `withUnsafeBytes` keeping the body's typed error (the standard one rethrows `any Error`).
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBytes { raw in Result { () throws(E) in try body(raw) } }.get()
    }
}

extension ArraySlice where Element == UInt8 {
    /// The little-endian integer at absolute index `at`; the caller has checked the bounds.
    func loadLittleEndian<T: FixedWidthInteger>(_: T.Type, at index: Int) -> T {
        var value: T = 0
        for k in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(self[index + k]) }
        return value
    }
}
