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

    /// The next field this package can name, or nil at the end of the buffer. Fields it
    /// cannot name are skipped as protobuf requires of unknown fields: groups (wire types 3
    /// and 4, nested to at most `maxGroupDepth`) and field numbers beyond `UInt32`. Wire
    /// types 6 and 7, field number 0, an unmatched end of group and anything running past
    /// the end throw.
    @inlinable
    mutating func next() throws(WireError) -> (field: UInt32, value: ProtoValue)? {
        while position < buffer.count {
            let key = try readVarint()
            let number = key &>> 3
            guard number != 0 else { throw .badFieldNumber }
            let value: ProtoValue
            switch key & 7 {
            case 0:
                value = .varint(try readVarint())
            case 2:
                value = .bytes(try readLengthDelimited())
            case 1:
                try skip(8)
                value = .fixed
            case 5:
                try skip(4)
                value = .fixed
            case 3:
                try skipGroup(number)
                continue
            case 4:
                throw .unbalancedGroup
            default:
                throw .badWireType
            }
            guard number <= UInt64(UInt32.max) else { continue }
            return (UInt32(truncatingIfNeeded: number), value)
        }
        return nil
    }

    /// The bytes of a length-delimited field whose key was just read.
    @inlinable
    mutating func readLengthDelimited() throws(WireError) -> UnsafeRawBufferPointer {
        let length = try readVarint()
        guard length <= UInt64(buffer.count &- position) else { throw .lengthPastEnd }
        let start = position
        position = start &+ Int(truncatingIfNeeded: length)
        return UnsafeRawBufferPointer(rebasing: buffer[start..<position])
    }

    /// Groups nested deeper than this are refused (as protobuf's own parsers do).
    @usableFromInline static let maxGroupDepth = 64

    /// Skips the rest of the group `number` whose start key was just read, with every group
    /// nested in it: a loop over an explicit stack of open group numbers, never recursion.
    @usableFromInline
    mutating func skipGroup(_ number: UInt64) throws(WireError) {
        var open = [number]
        while let innermost = open.last {
            guard position < buffer.count else { throw .unbalancedGroup }
            let key = try readVarint()
            let nested = key &>> 3
            guard nested != 0 else { throw .badFieldNumber }
            switch key & 7 {
            case 0: _ = try readVarint()
            case 1: try skip(8)
            case 2: _ = try readLengthDelimited()
            case 5: try skip(4)
            case 3:
                guard open.count < ProtoReader.maxGroupDepth else { throw .groupTooDeep }
                open.append(nested)
            case 4:
                guard nested == innermost else { throw .unbalancedGroup }
                open.removeLast()
            default:
                throw .badWireType
            }
        }
    }
}
