// The one protobuf writer: varint sizes and field encoding into caller memory.

/// Encoded sizes of the fields this package writes. Absent (nil) fields cost 0 bytes.
@usableFromInline
enum ProtoSize {
    /// Bytes of `value` as a base-128 varint (1...10).
    @inlinable
    static func varint(_ value: UInt64) -> Int {
        (64 &- (value | 1).leadingZeroBitCount &+ 6) / 7
    }

    @inlinable
    static func key(_ field: UInt32) -> Int {
        varint(UInt64(field) &<< 3)
    }

    /// int32 and enum fields: negative values are sign-extended to 10 bytes.
    @inlinable
    static func int32(_ field: UInt32, _ value: Int32?) -> Int {
        guard let value else { return 0 }
        return key(field) &+ varint(UInt64(bitPattern: Int64(value)))
    }

    @inlinable
    static func int64(_ field: UInt32, _ value: Int64?) -> Int {
        guard let value else { return 0 }
        return key(field) &+ varint(UInt64(bitPattern: value))
    }

    /// string and bytes fields.
    @inlinable
    static func bytes(_ field: UInt32, _ value: UnsafeRawBufferPointer?) -> Int {
        guard let value else { return 0 }
        return key(field) &+ varint(UInt64(value.count)) &+ value.count
    }
}

/// Writes fields at a cursor in caller-provided memory. The caller has sized the memory with
/// `ProtoSize`; the writer never checks bounds and never allocates.
@usableFromInline
struct ProtoWriter {
    @usableFromInline var cursor: UnsafeMutableRawPointer

    @inlinable
    init(_ start: UnsafeMutableRawPointer) {
        cursor = start
    }

    @inlinable
    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            cursor.storeBytes(of: UInt8(truncatingIfNeeded: rest) | 0x80, as: UInt8.self)
            cursor += 1
            rest &>>= 7
        }
        cursor.storeBytes(of: UInt8(truncatingIfNeeded: rest), as: UInt8.self)
        cursor += 1
    }

    @inlinable
    mutating func key(_ field: UInt32, wireType: UInt64) {
        varint(UInt64(field) &<< 3 | wireType)
    }

    @inlinable
    mutating func int32(_ field: UInt32, _ value: Int32?) {
        guard let value else { return }
        key(field, wireType: 0)
        varint(UInt64(bitPattern: Int64(value)))
    }

    @inlinable
    mutating func int64(_ field: UInt32, _ value: Int64?) {
        guard let value else { return }
        key(field, wireType: 0)
        varint(UInt64(bitPattern: value))
    }

    @inlinable
    mutating func bytes(_ field: UInt32, _ value: UnsafeRawBufferPointer?) {
        guard let value else { return }
        key(field, wireType: 2)
        varint(UInt64(value.count))
        if let source = value.baseAddress, value.count > 0 {
            cursor.copyMemory(from: source, byteCount: value.count)
            cursor += value.count
        }
    }
}
