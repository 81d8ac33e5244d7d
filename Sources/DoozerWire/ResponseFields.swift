// Response encoding for the server's write path.

/// Response fields to encode straight into an output buffer. Borrows the byte fields (the caller
/// keeps them alive across `encode`); owns nothing, and encoding never allocates.
/// Fields are written in ascending field-number order; nil fields are omitted.
public struct ResponseFields {
    public var tag: Int32?
    public var flags: Int32?
    public var rev: Int64?
    public var path: UnsafeRawBufferPointer?
    public var value: UnsafeRawBufferPointer?
    public var len: Int32?
    public var errCode: ErrorCode?
    public var errDetail: UnsafeRawBufferPointer?

    /// All fields absent.
    @inlinable
    public init() {
        tag = nil
        flags = nil
        rev = nil
        path = nil
        value = nil
        len = nil
        errCode = nil
        errDetail = nil
    }

    /// Payload bytes `encode(to:)` writes, without the frame header.
    @inlinable
    public var encodedCount: Int {
        encodedCount(errCode: errCode?.rawValue)
    }

    /// Writes exactly `encodedCount` bytes at `destination`, which must have room for them.
    @inlinable
    public func encode(to destination: UnsafeMutableRawPointer) {
        encode(to: destination, errCode: errCode?.rawValue)
    }

    /// Payload bytes `encodeUpToValueBytes(to:)` writes: `encodedCount` without the bytes of
    /// `value`, for a sender that sends those separately (by reference) right after them.
    @inlinable
    public var encodedCountUpToValueBytes: Int {
        encodedCount &- (value?.count ?? 0)
    }

    /// Writes every field up to `value`'s key and length, leaving its bytes to the caller.
    /// Only for answers without fields after `value` (len, err_code, err_detail).
    @inlinable
    public func encodeUpToValueBytes(to destination: UnsafeMutableRawPointer) {
        precondition(len == nil && errCode == nil && errDetail == nil, "fields after value would precede it")
        var writer = ProtoWriter(destination)
        writer.int32(ResponseField.tag, tag)
        writer.int32(ResponseField.flags, flags)
        writer.int64(ResponseField.rev, rev)
        writer.bytes(ResponseField.path, path)
        if let value {
            writer.key(ResponseField.value, wireType: 2)
            writer.varint(UInt64(value.count))
        }
    }

    /// `encodedCount` with a raw `err_code` in place of `self.errCode` (which `Response` needs
    /// for numbers `ErrorCode` does not name).
    @inlinable
    func encodedCount(errCode rawErrCode: Int32?) -> Int {
        ProtoSize.int32(ResponseField.tag, tag)
            &+ ProtoSize.int32(ResponseField.flags, flags)
            &+ ProtoSize.int64(ResponseField.rev, rev)
            &+ ProtoSize.bytes(ResponseField.path, path)
            &+ ProtoSize.bytes(ResponseField.value, value)
            &+ ProtoSize.int32(ResponseField.len, len)
            &+ ProtoSize.int32(ResponseField.errCode, rawErrCode)
            &+ ProtoSize.bytes(ResponseField.errDetail, errDetail)
    }

    /// `encode(to:)` with a raw `err_code` in place of `self.errCode`.
    @inlinable
    func encode(to destination: UnsafeMutableRawPointer, errCode rawErrCode: Int32?) {
        var writer = ProtoWriter(destination)
        writer.int32(ResponseField.tag, tag)
        writer.int32(ResponseField.flags, flags)
        writer.int64(ResponseField.rev, rev)
        writer.bytes(ResponseField.path, path)
        writer.bytes(ResponseField.value, value)
        writer.int32(ResponseField.len, len)
        writer.int32(ResponseField.errCode, rawErrCode)
        writer.bytes(ResponseField.errDetail, errDetail)
    }
}
