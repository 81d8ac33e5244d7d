// In-place request decoding for the server's read path.

/// Request decoded in place: the byte fields point into the payload it was decoded from and are
/// valid only while that payload is. Owns nothing; decoding never allocates or copies.
/// Unknown fields, and known fields with the wrong wire type, are skipped; the last value wins.
public struct RequestView {
    public var tag: Int32?
    /// Raw `verb` number; may be a value that `Verb` does not define.
    public var verb: Int32?
    public var path: UnsafeRawBufferPointer?
    public var value: UnsafeRawBufferPointer?
    public var otherTag: Int32?
    public var offset: Int32?
    public var rev: Int64?

    /// Decodes a whole `Request` payload (without the frame header).
    @inlinable
    public init(decoding payload: UnsafeRawBufferPointer) throws(WireError) {
        tag = nil
        verb = nil
        path = nil
        value = nil
        otherTag = nil
        offset = nil
        rev = nil
        var reader = ProtoReader(payload)
        while let (field, fieldValue) = try reader.next() {
            switch fieldValue {
            case .varint(let number):
                switch field {
                case RequestField.tag: tag = Int32(truncatingIfNeeded: number)
                case RequestField.verb: verb = Int32(truncatingIfNeeded: number)
                case RequestField.otherTag: otherTag = Int32(truncatingIfNeeded: number)
                case RequestField.offset: offset = Int32(truncatingIfNeeded: number)
                case RequestField.rev: rev = Int64(bitPattern: number)
                default: break
                }
            case .bytes(let bytes):
                switch field {
                case RequestField.path: path = bytes
                case RequestField.value: value = bytes
                default: break
                }
            case .fixed:
                break
            }
        }
    }
}
