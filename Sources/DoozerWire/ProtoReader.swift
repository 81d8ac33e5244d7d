// The one protobuf reader: varints and field iteration over a borrowed buffer.

/// The value of one field, as far as this package cares.
@usableFromInline
enum ProtoValue {
    /// Wire type 0.
    case varint(UInt64)
    /// Wire type 2; points into the buffer being read.
    case bytes(UnsafeRawBufferPointer)
    /// Wire types 1 and 5; no message here declares such a field, so the value is dropped.
    case fixed
}

/// Iterates over the fields of a protobuf message in a borrowed buffer.
/// Every read is checked against the buffer's end; never allocates, never copies.
@usableFromInline
struct ProtoReader {
    @usableFromInline let buffer: UnsafeRawBufferPointer
    @usableFromInline var position: Int

    @inlinable
    init(_ buffer: UnsafeRawBufferPointer) {
        self.buffer = buffer
        self.position = 0
    }

    /// A base-128 varint of up to 10 bytes; bits beyond 64 are dropped, as protobuf does.
    @inlinable
    mutating func readVarint() throws(WireError) -> UInt64 {
        let end = buffer.count
        var index = position
        guard index < end else { throw .truncatedVarint }
        var byte = buffer[index]
        index &+= 1
        if byte < 0x80 {
            position = index
            return UInt64(byte)
        }
        var result = UInt64(byte & 0x7f)
        var shift: UInt64 = 7
        while true {
            guard index < end else { throw .truncatedVarint }
            byte = buffer[index]
            index &+= 1
            result |= UInt64(byte & 0x7f) &<< shift
            if byte < 0x80 {
                position = index
                return result
            }
            shift &+= 7
            if shift >= 70 { throw .varintTooLong }
        }
    }

    @inlinable
    mutating func skip(_ count: Int) throws(WireError) {
        guard buffer.count &- position >= count else { throw .truncatedFixed }
        position &+= count
    }

    /// The next field, or nil at the end of the buffer. Groups, wire types 6 and 7, field
    /// number 0 and anything running past the end throw.
    @inlinable
    mutating func next() throws(WireError) -> (field: UInt32, value: ProtoValue)? {
        guard position < buffer.count else { return nil }
        let key = try readVarint()
        guard key <= UInt64(UInt32.max), key >= 8 else { throw .badFieldNumber }
        let field = UInt32(truncatingIfNeeded: key &>> 3)
        switch key & 7 {
        case 0:
            return (field, .varint(try readVarint()))
        case 2:
            let length = try readVarint()
            guard length <= UInt64(buffer.count &- position) else { throw .lengthPastEnd }
            let start = position
            position = start &+ Int(truncatingIfNeeded: length)
            return (field, .bytes(UnsafeRawBufferPointer(rebasing: buffer[start..<position])))
        case 1:
            try skip(8)
            return (field, .fixed)
        case 5:
            try skip(4)
            return (field, .fixed)
        case 3, 4:
            throw .group
        default:
            throw .badWireType
        }
    }
}
